// The accessory daemon: listeners, connections, the namespace registry.
import { EventLoop } from "../ffi/event_loop.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { errorMessage, logError, logNotice, logWarning } from "../shared/log.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { SLEEP } from "./init_links.ts";
import { POOL_PROGRAM_EXE } from "./pool_program.ts";
import { findOrphanedInitName, findOrphanedInits } from "./orphaned_inits.ts";
import { PidNamespace } from "./pid_namespace.ts";
import { Connection } from "./connection.ts";
import { watchListener } from "./listener.ts";
import { NamespaceFactory } from "./namespace_factory.ts";
import type { PoolSizes } from "./namespace_pool.ts";
import { NamespaceRegistry } from "./namespace_registry.ts";
import { type AccessList, allowed, DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { ConnectionQuota, UNKNOWN_UID } from "./connection_quota.ts";
import { type Credentials, peerCredentials } from "../ffi/socket.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";
import { accessListPolicy, type Policy, RequestHandler } from "./request_handler.ts";

/** How long stop() waits for killed inits and helpers to be gone. */
const STOP_TIMEOUT_MS = 10_000;

export interface DaemonOptions {
  /** Listening sockets, already bound (see listener.ts). */
  listeners: number[];
  /** How long an unleased name lives after its last use, in seconds. */
  namespaceTtl: number;
  /** A private directory for the init symlinks. */
  runtimeDirectory: string;
  /** Who may request namespaces besides uid 0 (default: nobody else). */
  access?: AccessList;
  /** Overrides `access`. */
  policy?: Policy;
  limits?: Partial<Limits>;
  /** Marked on the inits; a daemon with the same key adopts them after a crash. */
  instance?: string;
  /** Namespaces made ahead of demand (namespace_pool.ts); not counted as names. */
  pool?: PoolSizes;
}

export class AccessoryDaemon {
  // A short adaptive spin, then sleeping in epoll_wait on the JS thread: far
  // less CPU per request than a long spin, same throughput (bench/accessory_bench.ts).
  readonly loop = new EventLoop({ spinMicroseconds: 10, waitMilliseconds: 20 });
  readonly factory: NamespaceFactory;
  readonly registry: NamespaceRegistry;
  readonly handler: RequestHandler;
  readonly #connections = new Set<Connection>();
  readonly #listeners: number[];
  readonly #limits: Limits;
  readonly #overflowLog = new RateLimitedLog("warning");
  readonly #quota: ConnectionQuota;
  readonly #mayRequest: (peer: Credentials) => boolean;
  #running: Promise<void> | null = null;

  constructor(options: DaemonOptions) {
    this.loop.onError = (error, fd) =>
      logError(`handler for fd ${fd} failed: ${errorMessage(error)}`);
    this.factory = new NamespaceFactory(
      this.loop,
      options.runtimeDirectory,
      options.instance,
      options.pool,
      options.limits?.maxNameLength,
    );
    this.registry = new NamespaceRegistry(this.factory, options.namespaceTtl * 1000);
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    const access = options.access ?? { uids: new Set(), gids: new Set() };
    const policy = options.policy ?? accessListPolicy(access);
    // A custom policy decides per request: count everyone as allowed then.
    this.#mayRequest = options.policy ? () => true : (peer) => allowed(access, peer);
    this.#quota = new ConnectionQuota(this.#limits);
    this.handler = new RequestHandler(this.registry, policy, this.#limits);
    this.#listeners = options.listeners;
  }

  /** Starts serving; the promise settles after stop(). */
  run(): Promise<void> {
    if (this.#running === null) {
      for (const fd of this.#listeners) {
        watchListener(this.loop, fd, (connection) => this.#accepted(connection));
      }
      this.#running = this.loop.run();
      this.factory.pool.fill();
    }
    return this.#running;
  }

  /**
   * Admits a connection by its SO_PEERCRED (see connection_quota.ts) or
   * closes it at once; a refused uid's connection is closed when idle.
   */
  #accepted(fd: number): void {
    let connector: Credentials | undefined;
    try {
      connector = peerCredentials(fd);
    } catch {
      connector = undefined; // counted (and refused by the policy) as an unknown uid
    }
    const uid = connector?.uid ?? UNKNOWN_UID;
    const allowed = connector !== undefined && this.#mayRequest(connector);
    const refused = this.#quota.admit(uid, allowed);
    if (refused !== null) {
      closeQuietly(fd);
      this.#overflowLog.log(`${refused}; closing new ones`);
      return;
    }
    this.#connections.add(
      new Connection(fd, this.loop, this.handler, (c) => {
        this.#connections.delete(c);
        this.#quota.release(uid, allowed);
      }, {
        connector,
        idleTimeoutMs: allowed ? undefined : this.#limits.refusedIdleTimeout * 1000,
      }),
    );
  }

  /**
   * Takes over the inits a crashed predecessor with the same instance key
   * left running (only processes the kernel shows the daemon's kind made:
   * see init_marker.ts): NAME maps to the same PID namespace again
   * (processes in it keep running); its TTL starts now. A duplicate,
   * unadoptable or spare one is killed. Returns the names adopted.
   */
  adoptOrphans(): string[] {
    const sleep = [Deno.realPathSync(SLEEP), POOL_PROGRAM_EXE];
    const instance = this.factory.instance;
    const adopted: string[] = [];
    const orphans = findOrphanedInits(instance, sleep);
    for (const [pid, name] of orphans.inits) {
      const stillIt = () => findOrphanedInitName(pid, instance, sleep) === name;
      try {
        const ok = this.registry.adopt(
          name,
          (onExit) => PidNamespace.adopt(pid, this.loop, onExit, stillIt),
        );
        if (ok) {
          adopted.push(name);
          logNotice(`${JSON.stringify(name)}: adopted init pid ${pid} of a previous run`, {
            SPAWN_NAME: name,
          });
          continue;
        }
        logWarning(
          `${JSON.stringify(name)}: second init pid ${pid} of a previous run; killing it`,
          { SPAWN_NAME: name },
        );
      } catch (e) {
        logWarning(
          `cannot adopt init pid ${pid} (${JSON.stringify(name)}): ${errorMessage(e)}; killing it`,
          { SPAWN_NAME: name },
        );
      }
      killIf(pid, () => findOrphanedInitName(pid, instance, sleep) === name);
    }
    for (const pid of orphans.spares) {
      logNotice(`killing spare init pid ${pid} of a previous run`);
      killIf(pid, () => findOrphanedInitName(pid, instance, sleep) === "");
    }
    return adopted;
  }

  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting, closes every connection, discards every name (killing
   * the inits) and the helpers; settles when those processes are gone.
   */
  async stop(): Promise<void> {
    for (const fd of this.#listeners) {
      this.loop.remove(fd);
      closeQuietly(fd);
    }
    this.#listeners.length = 0;
    for (const connection of [...this.#connections]) connection.close();
    // The loop keeps running until the killed inits are reaped (their pidfds).
    const gone = Promise.all([this.registry.discardAll(), this.factory.close()]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logError(`processes still running after ${STOP_TIMEOUT_MS} ms; exiting anyway`);
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    await Promise.race([gone, timeout]);
    clearTimeout(timer);
    await this.loop.close();
  }
}

/** SIGKILL to `pid` if `stillIt` holds once a pidfd pins it (no pid reuse race). */
function killIf(pid: number, stillIt: () => boolean): void {
  let pidfd = -1;
  try {
    pidfd = pidfdOpen(pid);
    if (stillIt()) pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
  } catch {
    // gone already
  } finally {
    closeQuietly(pidfd);
  }
}
