// A helper child of the daemon started off the event loop, with a pipe to its
// stdin and one from its stdout, its pidfd watched in the event loop (the
// namespace factory, helper_factory.ts).
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import {
  closeQuietly,
  O_CLOEXEC,
  O_NONBLOCK,
  pipe,
  read,
  setNonBlocking,
  write,
} from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { type ExitStatus, reap, spawnProcessAsync } from "../ffi/spawn.ts";

/** Every signal but SIGKILL/SIGSTOP back to its default in the child. */
export const DEFAULT_SIGNALS = Array.from({ length: 31 }, (_, i) => i + 1)
  .filter((sig) => sig !== SIGNALS.SIGKILL && sig !== SIGNALS.SIGSTOP);

const chunk = new Uint8Array(256);
const latin1 = new TextDecoder("latin1");

export class ChildPipes {
  #stdin = -1;
  #stdout = -1;
  #pidfd = -1;
  #exited: ExitStatus | null | undefined = undefined;
  readonly #gone = Promise.withResolvers<void>();

  private constructor(
    readonly pid: number,
    readonly loop: EventLoop,
    stdin: number,
    stdout: number,
    /** Text read from stdout (called per chunk); end of file: null. */
    readonly onOutput: (text: string | null) => void,
    /** The child has exited and has been reaped (its stdin stays open: closeStdin()). */
    readonly onExit: (status: ExitStatus | null) => void,
  ) {
    this.#stdin = stdin;
    this.#stdout = stdout;
    this.#pidfd = pidfdOpen(pid);
    loop.add(this.#pidfd, EPOLLIN, () => this.#reap());
    loop.add(stdout, EPOLLIN, () => this.#readable());
  }

  /**
   * Starts argv[0] with the pipes (and `extraFds`: child fd -> daemon fd);
   * wrapper (a test seam) is prepended to argv.
   */
  static async start(
    loop: EventLoop,
    argv: string[],
    onOutput: (text: string | null) => void,
    onExit: (status: ExitStatus | null) => void,
    extraFds: Record<number, number> = {},
    wrapper: string[] = [],
    env: string[] = [],
  ): Promise<ChildPipes> {
    const [inRead, inWrite] = pipe(O_CLOEXEC);
    const [outRead, outWrite] = pipe(O_CLOEXEC | O_NONBLOCK);
    let pid: number;
    try {
      const command = [...wrapper, ...argv];
      pid = await spawnProcessAsync(command[0], {
        argv: command,
        env,
        cwd: "/", // do not pin the daemon's working directory
        defaultSignals: DEFAULT_SIGNALS,
        fds: { 0: inRead, 1: outWrite, ...extraFds },
      });
    } catch (e) {
      closeQuietly(inWrite);
      closeQuietly(outRead);
      throw e;
    } finally {
      closeQuietly(inRead);
      closeQuietly(outWrite);
    }
    try {
      // A child that stops reading must not block the daemon: a full pipe fails the write.
      setNonBlocking(inWrite);
      return new ChildPipes(pid, loop, inWrite, outRead, onOutput, onExit);
    } catch (e) {
      // No pidfd: the pid is still ours; reap it the old way is impossible
      // without one, so kill it by pid (it is our unreaped child: no reuse).
      Deno.kill(pid, "SIGKILL");
      closeQuietly(inWrite);
      closeQuietly(outRead);
      throw e;
    }
  }

  /** Writes a line to the child's stdin; throws if its pipe is full (it stopped reading). */
  send(text: string): void {
    if (this.#stdin < 0) throw new Error("stdin of the helper is closed");
    const bytes = new TextEncoder().encode(text);
    if (write(this.#stdin, bytes) !== bytes.length) throw new Error("the helper does not read");
  }

  /** End of file on the child's stdin: the helpers end on it. */
  closeStdin(): void {
    closeQuietly(this.#stdin);
    this.#stdin = -1;
  }

  kill(): void {
    this.closeStdin();
    if (this.#pidfd >= 0 && this.#exited === undefined) {
      pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL);
    }
  }

  get running(): boolean {
    return this.#exited === undefined;
  }

  /** Settles once the child has exited and has been reaped. */
  get gone(): Promise<void> {
    return this.#gone.promise;
  }

  #readable(): void {
    for (;;) {
      const n = read(this.#stdout, chunk);
      if (n === null) return; // EAGAIN
      if (n === 0) {
        this.loop.remove(this.#stdout);
        closeQuietly(this.#stdout);
        this.#stdout = -1;
        this.onOutput(null);
        return;
      }
      this.onOutput(latin1.decode(chunk.subarray(0, n)));
      if (this.#stdout < 0) return;
    }
  }

  /** Stops reading stdout (the rest is not needed). */
  closeStdout(): void {
    if (this.#stdout < 0) return;
    this.loop.remove(this.#stdout);
    closeQuietly(this.#stdout);
    this.#stdout = -1;
  }

  #reap(): void {
    this.#exited = reap(this.#pidfd);
    this.loop.remove(this.#pidfd);
    closeQuietly(this.#pidfd);
    this.#pidfd = -1;
    this.#gone.resolve();
    this.onExit(this.#exited);
  }
}
