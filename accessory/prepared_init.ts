// A PID namespace (with an IPC namespace) and its init, made ahead of demand
// by the factory and waiting for a NAME (see FACTORY_SCRIPT in
// helper_programs.ts for the init's side). Life: starting -> ready (we hold
// its command pipe and ack pipe) -> assigning -> assigned (it shows as
// init-NAME: a PidNamespace) or dead. Nothing here blocks the event loop.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, O_NONBLOCK, O_RDONLY, O_WRONLY, open, read, write } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { openNamespace } from "../ffi/namespace.ts";
import type { HelperFactory } from "./helper_factory.ts";
import { initAssignment } from "./helper_programs.ts";
import type { QuietWatch } from "./quiet_watch.ts";
import { PidNamespace } from "./pid_namespace.ts";

/** How long an init may take to show as init-NAME once told. */
const ASSIGN_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();
const chunk = new Uint8Array(64);

export class PreparedInit {
  #pid = 0;
  #pidfd = -1;
  /** Our ends: its command pipe (write) and its ack pipe (read). */
  #command = -1;
  #ack = -1;
  /** Its PID namespace and (if it made one) IPC namespace, opened while it waits: off the reply's path. */
  #pidNamespace = -1;
  #ipcNamespace = -1;
  #state: "starting" | "ready" | "assigning" | "assigned" | "dead" = "starting";
  readonly #ready = Promise.withResolvers<PreparedInit>();
  readonly #gone = Promise.withResolvers<void>();
  #assigned: PromiseWithResolvers<PidNamespace> | null = null;
  #assignment: {
    onExecDone: () => void;
    onExit: (namespace: PidNamespace) => void;
    timer: ReturnType<typeof setTimeout>;
  } | null = null;
  #dismissed = false;
  /** Called once if the init dies while ready (not yet assigned). */
  onDeath: () => void = () => {};

  private constructor(
    readonly loop: EventLoop,
    readonly quiet: QuietWatch,
    readonly ownIpc: boolean,
  ) {
    this.#ready.promise.catch(() => {}); // a failed start is reported to whoever waits
  }

  /**
   * Has the factory make one. `ipc`: the IPC namespace the init must live in
   * (a name that has one already); default: a new one.
   */
  static start(
    loop: EventLoop,
    factory: HelperFactory,
    quiet: QuietWatch,
    ipc: number | null = null,
  ): PreparedInit {
    const init = new PreparedInit(loop, quiet, ipc === null);
    factory.init(ipc === null ? null : `/proc/${Deno.pid}/fd/${ipc}`).then(
      (answer) => init.#started(answer.pid, answer.commandFd, answer.ackFd),
      (error) => init.#fail(error),
    );
    return init;
  }

  /** Settles when the init waits for its NAME (or failed to start). */
  get ready(): Promise<PreparedInit> {
    return this.#ready.promise;
  }

  get isReady(): boolean {
    return this.#state === "ready";
  }

  get pid(): number {
    return this.#pid;
  }

  /**
   * The IPC namespace it made (null if it joined one), opened ahead; the
   * caller owns the fd from now on. Only once it is NAME's init.
   */
  takeIpcNamespace(): number | null {
    if (this.#state !== "assigned" || this.#ipcNamespace < 0) return null;
    const fd = this.#ipcNamespace;
    this.#ipcNamespace = -1;
    return fd;
  }

  #started(pid: number, commandFd: number, ackFd: number): void {
    try {
      this.#pid = pid;
      this.#pidfd = pidfdOpen(pid);
      this.loop.add(this.#pidfd, EPOLLIN, () => this.#exit());
      // Its pipe ends, reopened through /proc (a pipe's /proc/PID/fd link
      // opens that pipe). Not pidfd_getfd(2): container managers' seccomp
      // filters (systemd-nspawn's) refuse it. The pid cannot be reused
      // meanwhile: we are its parent and have not reaped it.
      this.#command = open(`/proc/${pid}/fd/${commandFd}`, O_WRONLY);
      this.#ack = open(`/proc/${pid}/fd/${ackFd}`, O_RDONLY | O_NONBLOCK);
      this.#pidNamespace = openNamespace(pid, "pid");
      if (this.ownIpc) this.#ipcNamespace = openNamespace(pid, "ipc");
      // It closes its copies now: end of file on the command pipe is ours to give.
      write(this.#command, encoder.encode("ok\n"));
      this.loop.add(this.#ack, EPOLLIN, () => this.#acked());
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#state = "ready";
    this.#ready.resolve(this);
    if (this.#dismissed) this.#fail(new Error("dismissed"));
  }

  /**
   * Makes it NAME's init: its comm becomes the basename of `link`, then it
   * execs sleep through `link` with `markers` as environment. Resolves once
   * it shows as init-NAME; onExecDone runs when `link` is no longer needed.
   */
  assign(
    link: string,
    markers: string[],
    onExecDone: () => void,
    onExit: (namespace: PidNamespace) => void,
  ): Promise<PidNamespace> {
    if (this.#state !== "ready") throw new Error(`prepared init is ${this.#state}`);
    this.#state = "assigning";
    this.#assigned = Promise.withResolvers<PidNamespace>();
    const timer = setTimeout(
      () => this.#fail(new Error(`init ${this.#pid} did not take its name`)),
      ASSIGN_TIMEOUT_MS,
    );
    this.#assignment = { onExecDone, onExit, timer };
    try {
      write(this.#command, encoder.encode(initAssignment(link, markers)));
    } catch (e) {
      this.#fail(e);
    }
    closeQuietly(this.#command); // it has all it needs
    this.#command = -1;
    return this.#assigned.promise;
  }

  /** Ends it unless assigned (shutdown); end of file would do, SIGKILL is sure. */
  dismiss(): void {
    // Still being made: ended as soon as the factory answers (or fails).
    if (this.#state === "starting") this.#dismissed = true;
    else this.#fail(new Error("dismissed"));
  }

  /** Settles when its process is gone or is NAME's init. */
  gone(): Promise<void> {
    return this.#gone.promise;
  }

  #acked(): void {
    for (;;) {
      let n: number | null;
      try {
        n = read(this.#ack, chunk);
      } catch {
        n = 0;
      }
      if (n === null) return; // EAGAIN
      if (n > 0 && this.#state === "assigning" && chunk[0] === 0x2e) {
        if (this.#took()) {
          // Its exec of sleep follows: watched without waking the daemon.
          const ack = this.#ack;
          const assignment = this.#assignment!;
          this.#ack = -1;
          this.#assignment = null;
          this.loop.remove(ack);
          this.quiet.add(ack, EPOLLIN, (closing) => {
            let n: number | null;
            try {
              n = read(ack, chunk);
            } catch {
              n = 0;
            }
            if (!closing && n !== 0) return; // still being executed
            this.quiet.remove(ack);
            closeQuietly(ack);
            assignment.onExecDone();
          });
          return;
        }
        continue;
      }
      if (n > 0) continue;
      // End of file: the exec of sleep is done (or it died): the link may go.
      this.loop.remove(this.#ack);
      closeQuietly(this.#ack);
      this.#ack = -1;
      this.#assignment?.onExecDone();
      this.#assignment = null;
      if (this.#state !== "assigned") this.#fail(new Error(`init ${this.#pid} closed its pipe`));
      return;
    }
  }

  /** It shows as init-NAME: hands it out as a PidNamespace; false if that failed. */
  #took(): boolean {
    const assignment = this.#assignment!;
    clearTimeout(assignment.timer);
    this.loop.remove(this.#pidfd);
    let namespace: PidNamespace;
    try {
      namespace = PidNamespace.fromPrepared(
        this.#pid,
        this.#pidfd,
        this.#pidNamespace,
        this.loop,
        assignment.onExit,
      );
    } catch (e) {
      this.loop.add(this.#pidfd, EPOLLIN, () => this.#exit());
      this.#fail(e);
      return false;
    }
    this.#pidfd = -1; // the PidNamespace's now, and so is its namespace fd
    this.#pidNamespace = -1;
    this.#state = "assigned";
    this.#gone.resolve();
    this.#assigned!.resolve(namespace);
    this.loop.settleSoon(); // the reply waits for it
    return true;
  }

  #exit(): void {
    // Re-parented to the daemon by now, unless its first parent (SIGCHLD
    // ignored) was still there, which lets the kernel reap it: reap() then
    // finds nothing.
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
    if (this.#state === "assigned" || this.#state === "dead") return;
    const before = this.#state;
    this.#state = "dead";
    if (this.#assignment) clearTimeout(this.#assignment.timer);
    closeQuietly(this.#command);
    this.#command = -1;
    closeQuietly(this.#pidNamespace);
    this.#pidNamespace = -1;
    closeQuietly(this.#ipcNamespace);
    this.#ipcNamespace = -1;
    if (this.#ack >= 0) {
      this.loop.remove(this.#ack);
      closeQuietly(this.#ack);
      this.#ack = -1;
    }
    if (this.#pidfd >= 0) pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL); // #exit reaps
    else this.#gone.resolve();
    if (before === "starting") this.#ready.reject(error);
    this.#assigned?.reject(error);
    // The link is no longer needed once the init is being killed.
    this.#assignment?.onExecDone();
    this.#assignment = null;
  }
}
