// A PID namespace (with an IPC namespace) and its init, made ahead of demand
// and waiting for a NAME (see INIT_SCRIPT in helper_programs.ts for the
// child's side). Life: starting (perl forks the init and exits) -> ready
// (the init is our child, waiting on its stdin) -> assigned (it has set its
// comm to init-NAME: a PidNamespace) or dead. Nothing here blocks the event
// loop: the spawn runs on a worker thread, the rest is pipe and pidfd events.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { ChildPipes } from "./child_pipes.ts";
import { initArgv, initAssignment } from "./helper_programs.ts";
import { PidNamespace } from "./pid_namespace.ts";

/** How long an init may take to show as init-NAME once told. */
const ASSIGN_TIMEOUT_MS = 10_000;

export class PreparedInit {
  #child: ChildPipes | null = null;
  #output = "";
  #initPid = 0;
  #initPidfd = -1;
  #state: "starting" | "ready" | "assigning" | "assigned" | "dead" = "starting";
  readonly #ready = Promise.withResolvers<PreparedInit>();
  #assigned: PromiseWithResolvers<PidNamespace> | null = null;
  #assignment: {
    onExecDone: () => void;
    onExit: (namespace: PidNamespace) => void;
    timer: ReturnType<typeof setTimeout>;
  } | null = null;
  #intermediateExited = false;
  #stopping = false;
  /** Called once if the init dies while ready (not yet assigned). */
  onDeath: () => void = () => {};

  private constructor(readonly loop: EventLoop) {
    this.#ready.promise.catch(() => {}); // a failed start is reported to whoever waits
  }

  /**
   * Starts making one. `ipc`: the IPC namespace the init must live in (a
   * name that has one already); default: a new one.
   */
  static start(loop: EventLoop, ipc: number | null = null, wrapper: string[] = []): PreparedInit {
    const init = new PreparedInit(loop);
    ChildPipes.start(
      loop,
      initArgv(ipc !== null),
      (text) => init.#output_(text),
      (status) => init.#intermediateExit(status?.code === 0),
      ipc !== null ? { 3: ipc } : {},
      wrapper,
    ).then(
      (child) => {
        init.#child = child;
        if (init.#stopping || init.#state === "dead") {
          child.kill();
          child.closeStdout();
        }
      },
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
    return this.#initPid;
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
      () => this.#fail(new Error(`init ${this.#initPid} did not take its name`)),
      ASSIGN_TIMEOUT_MS,
    );
    this.#assignment = { onExecDone, onExit, timer };
    this.#output = "";
    try {
      this.#child!.send(initAssignment(link, markers));
      this.#child!.closeStdin(); // it has all it needs; end of file is no dismissal now
    } catch (e) {
      this.#fail(e);
    }
    return this.#assigned.promise;
  }

  /** Ends it unless assigned (shutdown, or a pool that shrinks). */
  dismiss(): void {
    this.#stopping = true;
    if (this.#state === "assigned") return;
    this.#child?.kill();
    if (this.#initPidfd >= 0) pidfdSendSignal(this.#initPidfd, SIGNALS.SIGKILL);
  }

  /** Settles when the processes it started are gone (assigned inits excepted). */
  async gone(): Promise<void> {
    await this.#ready.promise.catch(() => {});
    await this.#child?.gone;
    if (this.#state !== "assigned" && this.#initPidfd >= 0) await this.#initExited.promise;
  }

  readonly #initExited = Promise.withResolvers<void>();

  #output_(text: string | null): void {
    if (text === null) {
      // Everyone has closed the pipe: the exec of sleep is done (or failed).
      if (this.#state === "assigned" || this.#state === "dead") this.#assignment?.onExecDone();
      if (this.#state === "assigned") this.#assignment = null;
      if (this.#state === "starting" || this.#state === "ready" || this.#state === "assigning") {
        this.#fail(new Error("the prepared init closed its pipe"));
      }
      return;
    }
    this.#output += text;
    if (this.#state === "starting" && this.#initPid === 0) {
      const newline = this.#output.indexOf("\n");
      if (newline < 0) return;
      const pid = Number(this.#output.slice(0, newline));
      this.#output = this.#output.slice(newline + 1);
      if (!Number.isSafeInteger(pid) || pid <= 0) {
        this.#fail(new Error(`prepared init reported pid ${JSON.stringify(pid)}`));
        return;
      }
      try {
        this.#initPid = pid;
        this.#initPidfd = pidfdOpen(pid);
      } catch (e) {
        this.#fail(e);
        return;
      }
      this.#maybeReady();
    } else if (this.#state === "assigning" && this.#output.includes(".")) {
      this.#took();
    }
  }

  #intermediateExit(ok: boolean): void {
    this.#intermediateExited = true;
    if (!ok) {
      if (this.#state === "starting") this.#fail(new Error("the prepared init failed to start"));
      return;
    }
    // Its pid line may still be unread in the pipe: then that completes it.
    this.#maybeReady();
  }

  /** Ready once the init is known and is our child (its parent has exited). */
  #maybeReady(): void {
    if (this.#state !== "starting" || !this.#intermediateExited || this.#initPidfd < 0) return;
    this.#state = "ready";
    this.#watch();
    if (this.#stopping) this.dismiss();
    this.#ready.resolve(this);
  }

  #took(): void {
    const assignment = this.#assignment!;
    clearTimeout(assignment.timer);
    this.loop.remove(this.#initPidfd);
    let namespace: PidNamespace;
    try {
      namespace = PidNamespace.fromPrepared(
        this.#initPid,
        this.#initPidfd,
        this.loop,
        assignment.onExit,
      );
    } catch (e) {
      this.#watch();
      this.#fail(e);
      return;
    }
    this.#state = "assigned";
    this.#initExited.resolve();
    this.#assigned!.resolve(namespace);
  }

  /** Watches the init (our child by now) to reap it when it exits. */
  #watch(): void {
    if (this.#initPidfd >= 0 && !this.loop.has(this.#initPidfd)) {
      this.loop.add(this.#initPidfd, EPOLLIN, () => this.#initExit());
    }
  }

  #initExit(): void {
    reap(this.#initPidfd);
    this.loop.remove(this.#initPidfd);
    closeQuietly(this.#initPidfd);
    this.#initPidfd = -1;
    this.#initExited.resolve();
    const wasReady = this.#state === "ready";
    this.#fail(new Error(`prepared init ${this.#initPid} exited`));
    if (wasReady) this.onDeath();
  }

  #fail(error: unknown): void {
    if (this.#state === "assigned" || this.#state === "dead") return;
    const before = this.#state;
    this.#state = "dead";
    if (this.#assignment) clearTimeout(this.#assignment.timer);
    this.#child?.kill();
    this.#child?.closeStdout();
    if (this.#initPidfd >= 0) {
      pidfdSendSignal(this.#initPidfd, SIGNALS.SIGKILL);
      // Reaped once it is our child: its parent may still be running, in
      // which case that parent (SIGCHLD ignored) lets the kernel reap it.
      if (this.#intermediateExited) this.#watch();
      else this.#child?.gone.then(() => this.#watch());
    }
    if (before === "starting") this.#ready.reject(error);
    this.#assigned?.reject(error);
    // The link is no longer needed once the init is being killed.
    this.#assignment?.onExecDone();
    this.#assignment = null;
  }
}
