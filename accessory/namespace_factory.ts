// Makes namespaces for the daemon: owns the handles of the daemon's own
// namespaces (to return to after unshare), the init symlinks and the user
// namespace helpers still running.
import type { EventLoop } from "../ffi/event_loop.ts";
import { closeQuietly, fstat } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { InitLinks } from "./init_links.ts";
import { createIpcNamespace } from "./ipc_namespace.ts";
import { markerEnvironment } from "./init_marker.ts";
import { failed } from "./namespace_error.ts";
import { PidNamespace } from "./pid_namespace.ts";
import { createUserNamespace, type HelperSet } from "./user_namespace.ts";

export class NamespaceFactory {
  readonly #ownIpc = openNamespace("thread-self", "ipc");
  readonly #ownPid = openNamespace("thread-self", "pid");
  readonly links: InitLinks;
  readonly helpers: HelperSet = new Set();

  constructor(
    readonly loop: EventLoop,
    runtimeDirectory: string,
    /** The daemon instance marked on its inits (init_marker.ts). */
    readonly instance = "",
  ) {
    this.links = new InitLinks(runtimeDirectory);
  }

  ipc(): number {
    try {
      return createIpcNamespace(this.#ownIpc);
    } catch (e) {
      throw failed("create IPC namespace", e);
    }
  }

  /**
   * A PID namespace whose init shows NAME and lives in the IPC namespace
   * `ipc`; onExit runs when the init is gone.
   */
  pid(name: string, ipc: number, onExit: (namespace: PidNamespace) => void): PidNamespace {
    const link = this.links.acquire(name);
    try {
      return PidNamespace.create(
        link,
        this.#ownPid,
        this.loop,
        onExit,
        markerEnvironment(this.instance, name),
        { fd: ipc, own: this.#ownIpc },
      );
    } catch (e) {
      throw failed("create PID namespace", e);
    } finally {
      // The init has exec'ed (or failed to): the symlink has done its job.
      this.links.release(link);
    }
  }

  /** True if fd is the daemon's own IPC namespace. */
  isOwnIpc(fd: number): boolean {
    return fstat(fd).ino === fstat(this.#ownIpc).ino;
  }

  user(maps: UserNamespaceMaps): Promise<number> {
    return createUserNamespace(maps, this.helpers);
  }

  /** Kills helpers still running and releases the own-namespace handles. */
  close(): Promise<unknown> {
    const pending = [...this.helpers].map((child) => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      return child.status;
    });
    closeQuietly(this.#ownIpc);
    closeQuietly(this.#ownPid);
    return Promise.allSettled(pending);
  }
}
