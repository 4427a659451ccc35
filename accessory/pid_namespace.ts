// A PID namespace with its init as PID 1.
//
// The init is /usr/bin/sleep, executed as `<dir>/init-NAME infinity` through a
// symlink (see init_links.ts: comm is the basename of the executed file) with
// SIGCHLD ignored:
// - SIGCHLD ignored: the kernel reaps every orphan re-parented to the init,
//   so no zombies accumulate without any code of ours running in the
//   namespace. The disposition is inherited: the daemon ignores SIGCHLD for
//   the instant of the (synchronous) spawn; ignored signals survive execve.
//   (Deno installs no SIGCHLD handler: it waits for children with pidfds.)
// - sleep installs no signal handlers, and a namespace init only receives
//   signals it has handlers for from inside the namespace: it survives them.
//   For the same reason SIGTERM from the daemon is ignored too, so the daemon
//   ends it with SIGKILL (always delivered from the parent namespace).
// - Deno.Command.spawn() returns after the exec, so when create() returns
//   the init already runs as init-NAME with SIGCHLD ignored: the namespace is
//   ready to be handed out (with `env --ignore-signal=CHLD` in between it
//   would take another exec, about a millisecond, to get there).
// - No parent-death signal: like the original daemon's inits (the unit has
//   KillMode=process), they outlive a crashed daemon, so a crash does not
//   kill every process in the namespaces; only a clean stop ends them.
// About 1.7 MB RSS, no Deno.
import { CLONE_NEWPID, openNamespace, unshare } from "../ffi/namespace.ts";
import { returnToOwnNamespace } from "./namespace_return.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS, withSignalIgnored } from "../ffi/process.ts";

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
      child = withSignalIgnored(SIGNALS.SIGCHLD, () =>
        new Deno.Command(link, {
          args: ["infinity"],
          stdin: "null",
          stdout: "null",
          stderr: "null",
          // No locale to load: exec is measurably faster with an empty environment.
          clearEnv: true,
          cwd: "/", // do not pin the daemon's working directory
        }).spawn());
    } finally {
      returnToOwnNamespace(ownPidNamespace, CLONE_NEWPID);
    }
    let pidfd = -1;
    try {
      pidfd = pidfdOpen(child.pid);
      const fd = openNamespace(child.pid, "pid");
      // A status error (the child was reaped by the kernel) means gone, too.
      return new PidNamespace(fd, child.pid, pidfd, link, child.status.catch(() => {}));
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
