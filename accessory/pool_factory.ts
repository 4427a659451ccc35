// The daemon's end of the pool program (pool_program.ts): started on first
// use from a sealed memfd, asked over a socket pair, answered in order. If
// it dies, what was asked of it fails and the next request starts it again.
// Nothing here blocks the event loop: the program clones, the daemon only
// sends a datagram and later reads the pid.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, O_CLOEXEC, pipe, setNonBlocking } from "../ffi/fd.ts";
import { sealedMemfd } from "../ffi/memfd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { MessageReceiver, MessageSender } from "../ffi/socket_message.ts";
import { SOCK_SEQPACKET, unixSocketPair } from "../ffi/socket.ts";
import { reap, spawnProcess } from "../ffi/spawn.ts";
import { strerror } from "../ffi/sys_error.ts";
import { initEnvironment, POOL_PROGRAM_NAME } from "./pool_program.ts";

/** What the daemon holds of a new init: its pid and our ends of its pipes. */
export interface InitStart {
  pid: number;
  /** Write end of its command pipe (close-on-exec). */
  command: number;
  /** Read end of its ack pipe (close-on-exec, non-blocking). */
  ack: number;
}

interface Pending {
  resolve: (pid: number) => void;
  reject: (error: Error) => void;
}

class Running {
  readonly pending: Pending[] = [];
  constructor(readonly pid: number, readonly pidfd: number, readonly socket: number) {}
}

const sender = new MessageSender(3);
const receiver = new MessageReceiver(0);
const answer = new Uint8Array(16);
const P = new Uint8Array([0x70]);
const U = new Uint8Array([0x75]);

export class PoolFactory {
  #running: Running | null = null;
  #memfd = -1;
  #closed = false;
  readonly #exited = new Set<Promise<void>>();

  constructor(
    readonly loop: EventLoop,
    readonly image: Uint8Array<ArrayBuffer>,
    /** The inits' instance marker (init_marker.ts). */
    readonly instance: string,
    /** Room for NAME in each init's marker. */
    readonly maxName: number,
    /** A file that must exist before each request is sent (a test seam: a slow build). */
    readonly gate: string | null = null,
  ) {}

  /** Starts the program now (it is also started on first use); throws if it cannot run. */
  start(): void {
    this.#program();
  }

  /**
   * A new init in a new PID namespace and a new IPC namespace, or in the
   * IPC namespace `ipc` (an fd; the caller keeps it).
   */
  async init(ipc: number | null): Promise<InitStart> {
    if (this.gate !== null) await this.#gate(); // a test seam: no await otherwise
    let [commandRead, command] = pipe(O_CLOEXEC);
    let ackRead = -1, ackWrite = -1;
    try {
      [ackRead, ackWrite] = pipe(O_CLOEXEC);
      setNonBlocking(ackRead);
      const pid = this.#ask(
        P,
        ipc === null ? [commandRead, ackWrite] : [commandRead, ackWrite, ipc],
      );
      // Ours go now: the init holds the only read end of its command pipe and
      // the only write end of its ack pipe (end of file says it is gone).
      // Each fd is closed exactly once: its number may be reused at once.
      closeQuietly(commandRead);
      closeQuietly(ackWrite);
      commandRead = ackWrite = -1;
      return { pid: await pid, command, ack: ackRead };
    } catch (e) {
      for (const fd of [commandRead, ackWrite, command, ackRead]) closeQuietly(fd);
      throw e;
    }
  }

  /** A user namespace helper (the program's child). */
  async userHelper(): Promise<{ pid: number }> {
    if (this.gate !== null) await this.#gate(); // a test seam: no await otherwise
    return { pid: await this.#ask(U, []) };
  }

  async #gate(): Promise<void> {
    while (!this.#closed) {
      try {
        Deno.statSync(this.gate!);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  #ask(kind: Uint8Array<ArrayBuffer>, fds: number[]): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("the daemon is stopping"));
    const running = this.#program();
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    let sent: number | null;
    try {
      sent = sender.send(running.socket, kind, fds);
    } catch (e) {
      return Promise.reject(e);
    }
    if (sent === null) return Promise.reject(new Error("the pool program is not keeping up"));
    running.pending.push({ resolve, reject });
    return promise;
  }

  #program(): Running {
    if (this.#running !== null) return this.#running;
    if (this.#memfd < 0) this.#memfd = sealedMemfd(POOL_PROGRAM_NAME, this.image);
    const [ours, theirs] = unixSocketPair(SOCK_SEQPACKET, false);
    let pid: number;
    try {
      pid = spawnProcess(`/proc/${Deno.pid}/fd/${this.#memfd}`, {
        argv: [POOL_PROGRAM_NAME],
        env: initEnvironment(this.instance, this.maxName),
        fds: { 0: theirs },
      });
    } catch (e) {
      closeQuietly(ours);
      throw e;
    } finally {
      closeQuietly(theirs);
    }
    let pidfd: number;
    try {
      setNonBlocking(ours);
      pidfd = pidfdOpen(pid);
    } catch (e) {
      closeQuietly(ours);
      throw e; // it exits on end of file; reaped with the daemon
    }
    const running = new Running(pid, pidfd, ours);
    this.#running = running;
    this.loop.add(ours, EPOLLIN, () => this.#readable(running));
    const exited = Promise.withResolvers<void>();
    this.#exited.add(exited.promise);
    this.loop.add(pidfd, EPOLLIN, () => {
      reap(pidfd);
      this.loop.remove(pidfd);
      closeQuietly(pidfd);
      this.#stopped(running, new Error("the pool program exited"));
      this.#exited.delete(exited.promise);
      exited.resolve();
    });
    return running;
  }

  #readable(running: Running): void {
    for (;;) {
      let message;
      try {
        message = receiver.receive(running.socket, answer);
      } catch (e) {
        this.#stopped(running, e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (message === null) return;
      if (message.length === 0) {
        this.#stopped(running, new Error("the pool program exited"));
        return;
      }
      const waiter = running.pending.shift();
      if (message.length !== 4 || waiter === undefined) continue; // not from our program
      const value = new DataView(answer.buffer).getInt32(0, true);
      if (value > 0) waiter.resolve(value);
      else waiter.reject(new Error(`clone: ${strerror(-value)}`));
    }
  }

  /** The program is gone (or its socket failed): what it owed fails. */
  #stopped(running: Running, error: Error): void {
    if (this.#running === running) this.#running = null;
    if (this.loop.has(running.socket)) {
      this.loop.remove(running.socket);
      closeQuietly(running.socket);
    }
    for (const waiter of running.pending.splice(0)) waiter.reject(error);
  }

  /** Ends the program (its user namespace helpers die with it); settles when it is gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const running = this.#running;
    if (running !== null) {
      this.#stopped(running, new Error("the daemon is stopping"));
      // End of file ends it; SIGKILL if it should be stuck in a clone.
      if (this.loop.has(running.pidfd)) {
        const timer = setTimeout(() => pidfdSendSignal(running.pidfd, SIGNALS.SIGKILL), 2000);
        await Promise.allSettled([...this.#exited]);
        clearTimeout(timer);
      }
    }
    closeQuietly(this.#memfd);
    this.#memfd = -1;
  }
}
