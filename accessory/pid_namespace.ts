// A PID namespace with its init as PID 1.
//
// The init is /usr/bin/sleep, executed as `<dir>/init-NAME infinity` through a
// symlink (see init_links.ts: comm is the basename of the executed file) by
// `env --ignore-signal=CHLD`:
// - SIGCHLD ignored: the kernel reaps every orphan re-parented to the init,
//   so no zombies accumulate without any code of ours running in the
//   namespace. env sets the disposition in the child; ignored signals survive
//   execve. (The daemon must not ignore SIGCHLD itself, not even for the
//   instant of a spawn: a child of the daemon exiting in that instant, such
//   as a user namespace helper, would be reaped by the kernel behind Deno's
//   back and its pidfd leaked; the fuzz test found that.)
//   Every other signal is reset to its default in the child.
// - sleep installs no signal handlers, and a namespace init only receives
//   signals it has handlers for from inside the namespace: it survives them.
//   For the same reason SIGTERM from the daemon is ignored too, so the daemon
//   ends it with SIGKILL (always delivered from the parent namespace).
// - posix_spawn returns after the exec of env; create() then waits until env
//   has exec'ed the init (its comm turns init-NAME), so when it returns the
//   init runs with SIGCHLD ignored: the namespace is ready to be handed out.
//   (posix_spawn directly rather than Deno.Command: faster, and the daemon
//   reaps its inits itself through their pidfds.)
// - No parent-death signal: like the original daemon's inits (the unit has
//   KillMode=process), they outlive a crashed daemon, so a crash does not
//   kill every process in the namespaces; only a clean stop ends them.
// About 1.5 MB RSS, no Deno.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { CLONE_NEWIPC, CLONE_NEWPID, openNamespace, setns, unshare } from "../ffi/namespace.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap, spawnProcess } from "../ffi/spawn.ts";
import { returnToOwnNamespace } from "./namespace_return.ts";
import { COMM_MAX } from "./init_name.ts";
import { commBytes, commIs } from "./process_comm.ts";

/** Signals the init gets with their default action (env then ignores SIGCHLD). */
const DEFAULT_SIGNALS = Array.from({ length: 31 }, (_, i) => i + 1)
  .filter((sig) => sig !== SIGNALS.SIGKILL && sig !== SIGNALS.SIGSTOP);

export const ENV = "/usr/bin/env";
/** How long env may take to exec the init. */
const EXEC_TIMEOUT_MS = 2000;

/** The comm the kernel gives a process executing `path`. */
function initComm(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1).slice(0, COMM_MAX);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits (synchronously: typically a fraction of a millisecond) until `pid`
 * runs as `comm`, i.e. env has exec'ed it with SIGCHLD ignored.
 */
function waitForExec(pid: number, comm: string): void {
  const end = performance.now() + EXEC_TIMEOUT_MS;
  for (;;) {
    let current: Uint8Array;
    try {
      current = Deno.readFileSync(`/proc/${pid}/comm`);
    } catch (e) {
      throw new Error(`init ${pid} vanished before exec: ${e}`);
    }
    // Exactly, never trimmed: a 15-byte comm may end in a space.
    if (commIs(current, comm)) return;
    if (performance.now() > end) {
      const shown = JSON.stringify(new TextDecoder().decode(commBytes(current)));
      throw new Error(`init ${pid} still runs as ${shown} after ${EXEC_TIMEOUT_MS} ms`);
    }
    Atomics.wait(pause, 0, 0, 0.05);
  }
}

export class PidNamespace {
  #fdOpen = true;
  #running = true;
  /** Started by a previous run of the daemon: not our child, not ours to reap. */
  readonly adopted: boolean;
  readonly #exited = Promise.withResolvers<void>();

  private constructor(
    /** /proc/PID/ns/pid of the init: the handle given to clients. */
    readonly fd: number,
    readonly pid: number,
    /** Watched in the event loop until the init has exited and is reaped. */
    readonly pidfd: number,
    readonly loop: EventLoop,
    onExit: (namespace: PidNamespace) => void,
    adopted = false,
  ) {
    this.adopted = adopted;
    // The pidfd turns readable when the init has exited: reap it (its new
    // parent reaps an adopted one).
    loop.add(pidfd, EPOLLIN, () => {
      if (!adopted) reap(pidfd);
      this.#running = false;
      loop.remove(pidfd);
      closeQuietly(pidfd);
      this.close();
      this.#exited.resolve();
      onExit(this);
    });
  }

  /**
   * Unshares a PID namespace on the JS thread, spawns the init into it and
   * returns to `ownPidNamespace` at once. Nothing asynchronous may run in
   * between: Deno dies creating threads while pid_for_children differs.
   * `link` may be removed once this returns (the exec is done).
   */
  static create(
    link: string,
    ownPidNamespace: number,
    loop: EventLoop,
    onExit: (namespace: PidNamespace) => void,
    /** The init's environment: the markers of init_marker.ts. */
    env: string[] = [],
    /**
     * The name's IPC namespace for the init to live in (so that a restarted
     * daemon finds it again at /proc/PID/ns/ipc), and the daemon's own.
     */
    ipc: { fd: number; own: number } | null = null,
  ): PidNamespace {
    if (ipc) setns(ipc.fd, CLONE_NEWIPC);
    try {
      unshare(CLONE_NEWPID);
    } catch (e) {
      if (ipc) returnToOwnNamespace(ipc.own, CLONE_NEWIPC);
      throw e;
    }
    let pid: number;
    try {
      pid = spawnProcess(ENV, {
        argv: [ENV, "--ignore-signal=CHLD", link, "infinity"],
        env,
        cwd: "/", // do not pin the daemon's working directory
        defaultSignals: DEFAULT_SIGNALS,
      });
    } finally {
      returnToOwnNamespace(ownPidNamespace, CLONE_NEWPID);
      if (ipc) returnToOwnNamespace(ipc.own, CLONE_NEWIPC);
    }
    let pidfd = -1;
    try {
      pidfd = pidfdOpen(pid);
      waitForExec(pid, initComm(link));
      const fd = openNamespace(pid, "pid");
      return new PidNamespace(fd, pid, pidfd, loop, onExit);
    } catch (e) {
      if (pidfd >= 0) {
        pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
        reap(pidfd, true);
        closeQuietly(pidfd);
      }
      throw e;
    }
  }

  /**
   * Takes over the init `pid` of a previous run (see orphaned_inits.ts). The
   * caller checks the pid first; the pidfd pins it from here on, and the
   * check `stillIt` after opening it rules out pid reuse in between.
   */
  static adopt(
    pid: number,
    loop: EventLoop,
    onExit: (namespace: PidNamespace) => void,
    stillIt: () => boolean,
  ): PidNamespace {
    const pidfd = pidfdOpen(pid);
    let fd = -1;
    try {
      fd = openNamespace(pid, "pid");
      if (!stillIt()) throw new Error(`process ${pid} changed while being adopted`);
      return new PidNamespace(fd, pid, pidfd, loop, onExit, true);
    } catch (e) {
      closeQuietly(fd);
      closeQuietly(pidfd);
      throw e;
    }
  }

  get running(): boolean {
    return this.#running;
  }

  /** Settles once the init has exited and has been reaped. */
  get exited(): Promise<void> {
    return this.#exited.promise;
  }

  /** SIGKILL to the init (see above why not SIGTERM); safe against pid reuse. */
  kill(): void {
    if (this.#running) pidfdSendSignal(this.pidfd, SIGNALS.SIGKILL);
  }

  /** Closes the handle given to clients; the init is watched until it exits. */
  close(): void {
    if (!this.#fdOpen) return;
    this.#fdOpen = false;
    closeQuietly(this.fd);
  }
}
