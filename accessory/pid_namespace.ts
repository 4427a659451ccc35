// A PID namespace with its init as PID 1.
//
// The init is /usr/bin/sleep, started as
//   setpriv --pdeathsig KILL -- env --ignore-signal=CHLD <dir>/init-NAME infinity
// - SIGCHLD ignored: the kernel reaps every orphan re-parented to it, so no
//   zombies accumulate without any code of ours running in the namespace.
// - sleep installs no signal handlers, and a namespace init only receives
//   signals it has handlers for from inside the namespace: it survives them.
//   For the same reason SIGTERM from the daemon is ignored too, so the daemon
//   ends it with SIGKILL (always delivered from the parent namespace).
// - pdeathsig KILL: the init dies with the daemon even if the daemon is killed
//   itself (the unit uses KillMode=process).
// - comm is the basename of the executed symlink (see init_links.ts).
// About 1.7 MB RSS, no Deno.
import { CLONE_NEWPID, openNamespace, setns, unshare } from "../ffi/namespace.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";

export const SETPRIV = "/usr/bin/setpriv";
export const ENV = "/usr/bin/env";

export class PidNamespace {
  #closed = false;

  private constructor(
    /** /proc/PID/ns/pid of the init: the handle given to clients. */
    readonly fd: number,
    readonly pid: number,
    /** Readable (EPOLLIN) once the init has exited. */
    readonly pidfd: number,
    readonly link: string,
    /** Settles once the init is gone and reaped. */
    readonly exited: Promise<unknown>,
  ) {}

  /**
   * Unshares a PID namespace on the JS thread, spawns the init into it and
   * returns to `ownPidNamespace` at once. Nothing asynchronous may run in
   * between: Deno dies creating threads while pid_for_children differs.
   */
  static create(link: string, ownPidNamespace: number): PidNamespace {
    unshare(CLONE_NEWPID);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(SETPRIV, {
        args: ["--pdeathsig", "KILL", "--", ENV, "--ignore-signal=CHLD", link, "infinity"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } finally {
      setns(ownPidNamespace, CLONE_NEWPID);
    }
    // Deno reaps the child; its status promise must not keep the daemon alive.
    child.unref();
    let pidfd = -1;
    try {
      pidfd = pidfdOpen(child.pid);
      const fd = openNamespace(child.pid, "pid");
      return new PidNamespace(fd, child.pid, pidfd, link, child.status);
    } catch (e) {
      if (pidfd >= 0) pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
      else child.kill("SIGKILL");
      closeQuietly(pidfd);
      throw e;
    }
  }

  /** SIGKILL to the init (see above why not SIGTERM); safe against pid reuse. */
  kill(): void {
    if (!this.#closed) pidfdSendSignal(this.pidfd, SIGNALS.SIGKILL);
  }

  /** Closes the daemon's handles; the caller removed pidfd from the event loop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.fd);
    closeQuietly(this.pidfd);
  }
}
