// What a prepared init is to the daemon, whichever factory made it (the pool
// program: pooled_init.ts; the perl factory: prepared_init.ts): its pid, a
// pidfd watched in the event loop (it is our child, not reaped until the
// pidfd says it exited, so the pid cannot be reused meanwhile), and its PID
// namespace and (if it made one) IPC namespace, opened while it waits so
// that the reply for its NAME opens nothing. Named, it is handed over as a
// PidNamespace.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { PidNamespace } from "./pid_namespace.ts";

export class PreparedNamespaces {
  #pidfd: number;
  #pidNamespace = -1;
  #ipcNamespace = -1;

  /** Watches `pid`; `onExit` runs when it has exited (call reapExited() there). */
  constructor(readonly loop: EventLoop, readonly pid: number, onExit: () => void) {
    this.#pidfd = pidfdOpen(pid);
    loop.add(this.#pidfd, EPOLLIN, onExit);
  }

  /** Opens its PID namespace, and its IPC namespace if `ownIpc` (it made one). */
  openNamespaces(ownIpc: boolean): void {
    this.#pidNamespace = openNamespace(this.pid, "pid");
    if (ownIpc) this.#ipcNamespace = openNamespace(this.pid, "ipc");
  }

  /** The IPC namespace it made (null if it joined one); the caller owns the fd from now on. */
  takeIpcNamespace(): number | null {
    if (this.#ipcNamespace < 0) return null;
    const fd = this.#ipcNamespace;
    this.#ipcNamespace = -1;
    return fd;
  }

  /** It is NAME's init now: the PidNamespace takes the pidfd (and its watch) and the namespace fd. */
  handOver(onExit: (namespace: PidNamespace) => void): PidNamespace {
    const namespace = PidNamespace.fromPrepared(
      this.pid,
      this.#pidfd,
      this.#pidNamespace,
      this.loop,
      onExit,
    );
    this.#pidfd = this.#pidNamespace = -1;
    return namespace;
  }

  /** From the exit handler: reaps it and stops watching. */
  reapExited(): void {
    // Our child. (An init the perl factory made in a joined IPC namespace is
    // re-parented to us; if its first parent, SIGCHLD ignored, was still
    // there, the kernel reaped it and reap() finds nothing.)
    reap(this.#pidfd);
    this.loop.remove(this.#pidfd);
    closeQuietly(this.#pidfd);
    this.#pidfd = -1;
  }

  /**
   * Ends it (not once handed over): closes the namespace fds and sends
   * SIGKILL. True if the exit handler is still to come, false if it has run.
   */
  kill(): boolean {
    closeQuietly(this.#pidNamespace);
    closeQuietly(this.#ipcNamespace);
    this.#pidNamespace = this.#ipcNamespace = -1;
    if (this.#pidfd < 0) return false;
    pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL);
    return true;
  }
}
