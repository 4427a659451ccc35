// A PID namespace with its init as PID 1.
//
// The init is /usr/bin/sleep, started as
//   env --ignore-signal=CHLD <dir>/init-NAME infinity
// - SIGCHLD ignored: the kernel reaps every orphan re-parented to it, so no
//   zombies accumulate without any code of ours running in the namespace.
// - sleep installs no signal handlers, and a namespace init only receives
//   signals it has handlers for from inside the namespace: it survives them.
//   For the same reason SIGTERM from the daemon is ignored too, so the daemon
//   ends it with SIGKILL (always delivered from the parent namespace).
// - comm is the basename of the executed symlink (see init_links.ts).
// - No parent-death signal: like the original daemon's inits (the unit has
//   KillMode=process), they outlive a crashed daemon, so a crash does not
//   kill every process in the namespaces; only a clean stop ends them.
// About 1.7 MB RSS, no Deno.
//
// The namespace is handed out only once sleep runs (comm is init-NAME): before
// env has set SIGCHLD to SIG_IGN an orphan could become a zombie for good.
// There is no event for "exec done", so `ready` polls /proc/PID/comm.
import { CLONE_NEWPID, openNamespace, setns, unshare } from "../ffi/namespace.ts";
import { closeQuietly, O_RDONLY, open, pread } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";

export const ENV = "/usr/bin/env";

/** How long the init may take to exec sleep before creation counts as failed. */
export const INIT_START_TIMEOUT_MS = 5000;

export class PidNamespace {
  #closed = false;
  #ready = false;
  /** Settles once the init runs as init-NAME; rejects if it does not get there. */
  readonly ready: Promise<void>;

  private constructor(
    /** /proc/PID/ns/pid of the init: the handle given to clients. */
    readonly fd: number,
    readonly pid: number,
    /** Readable (EPOLLIN) once the init has exited. */
    readonly pidfd: number,
    readonly link: string,
    /** Settles once the init is gone and reaped. */
    readonly exited: Promise<unknown>,
  ) {
    this.ready = waitForComm(pid, link.slice(link.lastIndexOf("/") + 1).slice(0, 15))
      .then(() => {
        this.#ready = true;
      });
  }

  get isReady(): boolean {
    return this.#ready;
  }

  /**
   * Unshares a PID namespace on the JS thread, spawns the init into it and
   * returns to `ownPidNamespace` at once. Nothing asynchronous may run in
   * between: Deno dies creating threads while pid_for_children differs.
   */
  static create(link: string, ownPidNamespace: number): PidNamespace {
    unshare(CLONE_NEWPID);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(ENV, {
        args: ["--ignore-signal=CHLD", link, "infinity"],
        // No locale to load: exec is measurably faster with an empty environment.
        clearEnv: true,
        cwd: "/", // do not pin the daemon's working directory
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } finally {
      setns(ownPidNamespace, CLONE_NEWPID);
    }
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

const decoder = new TextDecoder();

/** Polls /proc/PID/comm (yielding between reads) until it reads `comm`. */
async function waitForComm(pid: number, comm: string): Promise<void> {
  const expected = comm + "\n";
  const fd = open(`/proc/${pid}/comm`, O_RDONLY);
  const buf = new Uint8Array(32);
  const start = performance.now();
  try {
    for (let polls = 0;; polls++) {
      let n: number;
      try {
        n = pread(fd, buf);
      } catch {
        throw new Error(`init ${pid} exited during start-up`);
      }
      if (decoder.decode(buf.subarray(0, n)) === expected) return;
      const waited = performance.now() - start;
      if (waited > INIT_START_TIMEOUT_MS) {
        throw new Error(`init ${pid} did not start within ${INIT_START_TIMEOUT_MS} ms`);
      }
      // Spin briefly (exec takes about a millisecond), then back off.
      await new Promise((resolve) => waited < 20 ? setImmediate(resolve) : setTimeout(resolve, 2));
    }
  } finally {
    closeQuietly(fd);
  }
}
