// A PID namespace with its init as PID 1.
//
// The init is /usr/bin/sleep, executed as `<dir>/init-NAME infinity` through a
// symlink (see init_links.ts: comm is the basename of the executed file) by a
// prepared init (prepared_init.ts, helper_programs.ts), made ahead of demand:
// - SIGCHLD ignored: the kernel reaps every orphan re-parented to the init,
//   so no zombies accumulate without any code of ours running in the
//   namespace; ignored signals survive execve. (The daemon must not ignore
//   SIGCHLD itself, not even for the instant of a spawn: a child of the
//   daemon exiting in that instant would be reaped by the kernel behind our
//   back; the fuzz test found that.) Every other signal has its default.
// - sleep installs no signal handlers, and a namespace init only receives
//   signals it has handlers for from inside the namespace: it survives them.
//   For the same reason SIGTERM from the daemon is ignored too, so the daemon
//   ends it with SIGKILL (always delivered from the parent namespace).
// - The namespace is handed out once the init shows as init-NAME (it sets its
//   comm before its exec of sleep, which follows off the critical path).
// - No parent-death signal: like the original daemon's inits (the unit has
//   KillMode=process), they outlive a crashed daemon, so a crash does not
//   kill every process in the namespaces; only a clean stop ends them.
// About 1.5 MB RSS, no Deno.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";

export class PidNamespace {
  #fdOpen = true;
  #running = true;
  /** Started by a previous run of the daemon: not our child, not ours to reap. */
  readonly adopted: boolean;
  /** Made when someone waits (some 400 bytes per name otherwise). */
  #exited: PromiseWithResolvers<void> | null = null;

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
    const exited = () => {
      if (!adopted) reap(pidfd);
      this.#running = false;
      loop.remove(pidfd);
      closeQuietly(pidfd);
      this.close();
      this.#exited?.resolve();
      onExit(this);
    };
    // A prepared init's pidfd is watched already: it only changes hands.
    if (loop.has(pidfd)) loop.replace(pidfd, exited);
    else loop.add(pidfd, EPOLLIN, exited);
  }

  /**
   * Takes over a prepared init (our child) that has become NAME's init;
   * `pidfd` and `fd` (its /proc/PID/ns/pid, opened ahead) are ours from now on.
   */
  static fromPrepared(
    pid: number,
    pidfd: number,
    fd: number,
    loop: EventLoop,
    onExit: (namespace: PidNamespace) => void,
  ): PidNamespace {
    return new PidNamespace(fd, pid, pidfd, loop, onExit);
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
    if (!this.#running) return Promise.resolve();
    return (this.#exited ??= Promise.withResolvers<void>()).promise;
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
