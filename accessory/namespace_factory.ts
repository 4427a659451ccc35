// Makes namespaces for the daemon: owns the handle of the daemon's own IPC
// namespace (to return to after unshare) and the pool of namespaces made
// ahead of demand (namespace_pool.ts).
import type { EventLoop } from "../ffi/event_loop.ts";
import { closeQuietly, fstat } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { setChildSubreaper } from "../ffi/process.ts";
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { InitLinks } from "./init_links.ts";
import { createIpcNamespace } from "./ipc_namespace.ts";
import { failed } from "./namespace_error.ts";
import {
  DEFAULT_POOL,
  FACTORY_VARIABLE,
  type Init,
  NamespacePool,
  type PoolSizes,
} from "./namespace_pool.ts";
import type { PidNamespace } from "./pid_namespace.ts";
import { poolProgramImage } from "./pool_program.ts";
import type { UserNamespaceHelper } from "./user_namespace.ts";

/**
 * Environment variable (tests only): a file that must exist before the
 * factory makes anything (a slow build, without timing).
 */
export const BUILD_GATE_VARIABLE = "CM4ALL_SPAWN_ACCESSORY_TEST_BUILD_GATE";

export class NamespaceFactory {
  readonly #ownIpc = openNamespace("thread-self", "ipc");
  readonly pool: NamespacePool;

  constructor(
    readonly loop: EventLoop,
    runtimeDirectory: string,
    /** The daemon instance marked on its inits (init_marker.ts). */
    readonly instance = "",
    poolSizes: PoolSizes = DEFAULT_POOL,
    /** The longest NAME (room for it in the pool program's inits). */
    maxName = 255,
  ) {
    // A prepared init the perl factory makes in a joined IPC namespace is
    // re-parented to the daemon when its first parent exits: the daemon reaps
    // it through its pidfd.
    setChildSubreaper(true);
    const gate = Deno.env.get(BUILD_GATE_VARIABLE);
    this.pool = new NamespacePool(loop, poolSizes, {
      program: Deno.env.get(FACTORY_VARIABLE) === "perl" ? null : poolProgramImage(),
      instance,
      maxName,
      links: new InitLinks(runtimeDirectory),
      gate: gate || null,
    });
  }

  ipc(): number {
    try {
      return createIpcNamespace(this.#ownIpc);
    } catch (e) {
      throw failed("create IPC namespace", e);
    }
  }

  /**
   * A PID namespace whose init shows NAME by the time the promise settles;
   * it lives in the IPC namespace `ipc`, or (null) in a new one, returned as
   * `ipc`. onExit runs when the init is gone.
   */
  async pid(
    name: string,
    ipc: number | null,
    onExit: (namespace: PidNamespace) => void,
  ): Promise<{ namespace: PidNamespace; ipc: number | null }> {
    let init: Init;
    try {
      const taken = ipc === null ? this.pool.inits.take() : this.pool.initIn(ipc);
      init = taken instanceof Promise ? await taken : taken;
    } catch (e) {
      throw failed("create PID namespace", e);
    }
    let namespace: PidNamespace;
    try {
      namespace = await init.become(name, onExit);
    } catch (e) {
      throw failed("create PID namespace", e);
    }
    if (ipc !== null) return { namespace, ipc: null };
    try {
      return { namespace, ipc: init.takeIpcNamespace() ?? openNamespace(namespace.pid, "ipc") };
    } catch (e) {
      namespace.kill();
      namespace.close();
      throw failed("open the IPC namespace of the init", e);
    }
  }

  /**
   * Replaces what was taken from the pool. Called once a reply has gone
   * out, so that making replacements does not delay it.
   */
  refill(): void {
    this.pool.fill();
  }

  /** True if fd is the daemon's own IPC namespace. */
  isOwnIpc(fd: number): boolean {
    return fstat(fd).ino === fstat(this.#ownIpc).ino;
  }

  /** A user namespace with `maps`: at once if a helper is ready. */
  user(maps: UserNamespaceMaps): number | Promise<number> {
    const taken = this.pool.userHelpers.take();
    if (!(taken instanceof Promise)) return taken.take(maps);
    return taken.then(
      (helper: UserNamespaceHelper) => helper.take(maps),
      (e) => {
        throw failed("create user namespace", e);
      },
    );
  }

  /** Ends what the pool made ahead and releases the own-namespace handle. */
  close(): Promise<unknown> {
    closeQuietly(this.#ownIpc);
    // A process that goes on after its daemon (tests run one in-process)
    // must not become the parent of every orphan that never gets reaped.
    return this.pool.close().finally(() => setChildSubreaper(false));
  }
}
