// A PID namespace (with an IPC namespace) and its init, cloned by the pool
// program (pool_program.ts) ahead of demand and waiting for a NAME. Life:
// starting -> ready (its pid, pidfd and namespaces held) -> naming ->
// named (it shows as init-NAME: a PidNamespace) or dead. Naming is one
// write and one byte back: no exec, no file, nothing that blocks.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, read, write } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { initProcessName } from "./init_name.ts";
import type { PoolFactory } from "./pool_factory.ts";
import { initNaming } from "./pool_program.ts";
import { PidNamespace } from "./pid_namespace.ts";

/** How long an init may take to show as init-NAME once told. */
const NAMING_TIMEOUT_MS = 10_000;

const chunk = new Uint8Array(16);
/** How long the event loop polls for an init's ack before it sleeps. */
const ACK_POLL_US = 250;

/**
 * Inits being named and when each must have answered. One watchdog timer for
 * all: a Deno timer set and cleared per name costs two wakeups of Deno's timer
 * thread on the reply's path.
 */
const naming = new Map<PooledInit, { deadline: number; fail: () => void }>();
let watchdog: ReturnType<typeof setTimeout> | undefined;

function watch(init: PooledInit, fail: () => void): void {
  naming.set(init, { deadline: performance.now() + NAMING_TIMEOUT_MS, fail });
  if (watchdog === undefined) watchdog = startWatchdog(NAMING_TIMEOUT_MS);
}

function startWatchdog(ms: number): ReturnType<typeof setTimeout> {
  const id = setTimeout(checkNaming, ms);
  Deno.unrefTimer(Number(id)); // a stopping daemon does not wait for it
  return id;
}

function checkNaming(): void {
  watchdog = undefined;
  const now = performance.now();
  let next = Infinity;
  for (const [init, { deadline, fail }] of naming) {
    if (deadline <= now) {
      naming.delete(init);
      fail();
    } else next = Math.min(next, deadline);
  }
  if (next !== Infinity) watchdog = startWatchdog(Math.ceil(next - now));
}

export class PooledInit {
  #pid = 0;
  #pidfd = -1;
  #command = -1;
  #ack = -1;
  #pidNamespace = -1;
  #ipcNamespace = -1;
  #state: "starting" | "ready" | "naming" | "named" | "dead" = "starting";
  readonly #ready = Promise.withResolvers<PooledInit>();
  readonly #gone = Promise.withResolvers<void>();
  #named: PromiseWithResolvers<PidNamespace> | null = null;
  #onExit: ((namespace: PidNamespace) => void) | null = null;
  #dismissed = false;
  /** Called once if the init dies while ready (not yet named). */
  onDeath: () => void = () => {};

  private constructor(readonly loop: EventLoop, readonly ownIpc: boolean) {
    this.#ready.promise.catch(() => {}); // a failed start is reported to whoever waits
  }

  /** Has the program clone one; in the IPC namespace `ipc` (an fd) if given, else in a new one. */
  static start(loop: EventLoop, factory: PoolFactory, ipc: number | null = null): PooledInit {
    const init = new PooledInit(loop, ipc === null);
    factory.init(ipc).then(
      (started) => init.#started(started.pid, started.command, started.ack),
      (error) => init.#fail(error),
    );
    return init;
  }

  get ready(): Promise<PooledInit> {
    return this.#ready.promise;
  }

  get isReady(): boolean {
    return this.#state === "ready";
  }

  get pid(): number {
    return this.#pid;
  }

  /** The IPC namespace it made (null if it joined one); the caller owns the fd. Once named. */
  takeIpcNamespace(): number | null {
    if (this.#state !== "named" || this.#ipcNamespace < 0) return null;
    const fd = this.#ipcNamespace;
    this.#ipcNamespace = -1;
    return fd;
  }

  #started(pid: number, command: number, ack: number): void {
    this.#pid = pid;
    this.#command = command;
    this.#ack = ack;
    try {
      // Our child (CLONE_PARENT), not reaped until its pidfd says so: the pid
      // cannot be reused meanwhile.
      this.#pidfd = pidfdOpen(pid);
      this.loop.add(this.#pidfd, EPOLLIN, () => this.#exit());
      this.#pidNamespace = openNamespace(pid, "pid");
      if (this.ownIpc) this.#ipcNamespace = openNamespace(pid, "ipc");
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#state = "ready";
    this.#ready.resolve(this);
    if (this.#dismissed) this.#fail(new Error("dismissed"));
  }

  /** Makes it NAME's init; resolves once it shows as init-NAME. */
  become(name: string, onExit: (namespace: PidNamespace) => void): Promise<PidNamespace> {
    if (this.#state !== "ready") throw new Error(`prepared init is ${this.#state}`);
    this.#state = "naming";
    this.#named = Promise.withResolvers<PidNamespace>();
    this.#onExit = onExit;
    watch(this, () => this.#fail(new Error(`init ${this.#pid} did not take its name`)));
    try {
      // One write below PIPE_BUF into an empty pipe: whole, and at once.
      write(this.#command, initNaming(initProcessName(name), name));
      closeQuietly(this.#command); // it has all it needs
      this.#command = -1;
      this.loop.add(this.#ack, EPOLLIN, () => this.#acked());
      // It answers within tens of microseconds: cheaper to poll than to sleep.
      this.loop.expectSoon(ACK_POLL_US);
    } catch (e) {
      this.#fail(e);
    }
    return this.#named.promise;
  }

  /** Ends it unless named (shutdown, or a pool that shrinks). */
  dismiss(): void {
    if (this.#state === "starting") this.#dismissed = true;
    else this.#fail(new Error("dismissed"));
  }

  /** Settles when its process is gone or is NAME's init. */
  gone(): Promise<void> {
    return this.#gone.promise;
  }

  #acked(): void {
    let n: number | null;
    try {
      n = read(this.#ack, chunk);
    } catch {
      n = 0;
    }
    if (n === null) return; // spurious
    if (n > 0 && chunk[0] === 0x2e && this.#state === "naming") {
      this.#took();
      return;
    }
    this.#fail(new Error(`init ${this.#pid} exited before it took its name`));
  }

  #took(): void {
    naming.delete(this);
    this.loop.forget(this.#ack); // ours alone: closing it leaves the epoll set
    closeQuietly(this.#ack);
    this.#ack = -1;
    let namespace: PidNamespace;
    try {
      namespace = PidNamespace.fromPrepared(
        this.#pid,
        this.#pidfd,
        this.#pidNamespace,
        this.loop,
        this.#onExit!,
      );
    } catch (e) {
      this.loop.replace(this.#pidfd, () => this.#exit());
      this.#fail(e);
      return;
    }
    this.#pidfd = -1; // the PidNamespace's now, and so is its namespace fd
    this.#pidNamespace = -1;
    this.#state = "named";
    this.#gone.resolve();
    this.#named!.resolve(namespace);
    this.loop.settleSoon(); // the reply waits for it
  }

  #exit(): void {
    reap(this.#pidfd);
    this.loop.remove(this.#pidfd);
    closeQuietly(this.#pidfd);
    this.#pidfd = -1;
    const wasReady = this.#state === "ready";
    this.#fail(new Error(`prepared init ${this.#pid} exited`));
    this.#gone.resolve();
    if (wasReady) this.onDeath();
  }

  #fail(error: unknown): void {
    if (this.#state === "named" || this.#state === "dead") return;
    const before = this.#state;
    this.#state = "dead";
    naming.delete(this);
    closeQuietly(this.#command);
    this.#command = -1;
    if (this.#ack >= 0) {
      this.loop.remove(this.#ack);
      closeQuietly(this.#ack);
      this.#ack = -1;
    }
    closeQuietly(this.#pidNamespace);
    this.#pidNamespace = -1;
    closeQuietly(this.#ipcNamespace);
    this.#ipcNamespace = -1;
    if (this.#pidfd >= 0) pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL); // #exit reaps
    else this.#gone.resolve();
    if (before === "starting") this.#ready.reject(error);
    this.#named?.reject(error);
  }
}
