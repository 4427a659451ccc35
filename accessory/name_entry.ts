// The namespaces of one NAME, created on first request and kept until the
// name expires (see lifetime.ts) or the daemon stops.
import { closeQuietly } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { errorMessage, logInfo, logWarning } from "../shared/log.ts";
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { Lease } from "./lease.ts";
import { Lifetime } from "./lifetime.ts";
import { NamespaceError } from "./namespace_error.ts";
import type { NamespaceFactory } from "./namespace_factory.ts";
import type { PidNamespace } from "./pid_namespace.ts";
import { UidCounter } from "./uid_counter.ts";

const latin1 = new TextDecoder("latin1");

/** The user namespace cache key: the payload bytes as they came. */
export function userKey(maps: UserNamespaceMaps): string {
  return latin1.decode(maps.uidMap) + "\0" + latin1.decode(maps.gidMap);
}

export class NameEntry {
  readonly lifetime: Lifetime;
  #ipc = -1;
  #pid: PidNamespace | null = null;
  readonly #users = new Map<string, number | Promise<number>>();
  /** Who a user namespace was made for (counted in byUid). */
  readonly #userOwners = new Map<string, number>();
  readonly #leases = new Set<Lease>();
  #discarded = false;
  /** The expiry timer, managed by the registry. */
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly name: string,
    readonly factory: NamespaceFactory,
    ttl: number,
    now: number,
    /** Counts the user namespaces per uid that asked for them first. */
    readonly byUid = new UidCounter(),
  ) {
    this.lifetime = new Lifetime(ttl, now);
  }

  get discarded(): boolean {
    return this.#discarded;
  }

  ipcFd(): number {
    if (this.#ipc < 0) this.#ipc = this.factory.ipc();
    return this.#ipc;
  }

  /** Takes over an init of a previous run as NAME's PID namespace. */
  adoptPid(adopt: (onExit: (gone: PidNamespace) => void) => PidNamespace): PidNamespace {
    if (this.#pid !== null) throw new Error(`${JSON.stringify(this.name)} has a PID namespace`);
    const pid = adopt((gone) => this.#initExited(gone));
    this.#pid = pid;
    // The init lives in the name's IPC namespace (see pidFd()): take it too.
    try {
      const ipc = openNamespace(pid.pid, "ipc");
      if (this.factory.isOwnIpc(ipc)) closeQuietly(ipc);
      else this.#ipc = ipc;
    } catch (e) {
      logWarning(
        `${JSON.stringify(this.name)}: IPC namespace of init ${pid.pid}: ${errorMessage(e)}`,
        { SPAWN_NAME: this.name },
      );
    }
    return pid;
  }

  /** NAME's PID namespace, started on first use (ready when returned). */
  pidFd(): number {
    if (this.#pid === null) {
      // The init lives in the name's IPC namespace, made now if need be, so
      // that a restarted daemon adopts both (IPC costs some 0.04 ms).
      const pid = this.factory.pid(this.name, this.ipcFd(), (gone) => this.#initExited(gone));
      this.#pid = pid;
      logInfo(`${JSON.stringify(this.name)}: new PID namespace, init pid ${pid.pid}`, {
        SPAWN_NAME: this.name,
      });
    }
    return this.#pid.fd;
  }

  /** User namespaces made or being made for this name. */
  get userNamespaces(): number {
    return this.#users.size;
  }

  hasUserNamespace(maps: UserNamespaceMaps): boolean {
    return this.#users.has(userKey(maps));
  }

  /** The cached fd, or a promise shared by every request for the same maps. */
  userNamespace(maps: UserNamespaceMaps, uid = 0): number | Promise<number> {
    const key = userKey(maps);
    const cached = this.#users.get(key);
    if (cached !== undefined) return cached;
    this.#userOwners.set(key, uid);
    this.byUid.add(uid);
    const pending = this.factory.user(maps).then(
      (fd) => {
        if (this.#discarded) {
          closeQuietly(fd);
          throw new NamespaceError(`namespaces of ${JSON.stringify(this.name)} were discarded`);
        }
        this.#users.set(key, fd);
        return fd;
      },
      (error) => {
        this.#users.delete(key);
        this.#forgetOwner(key);
        throw error;
      },
    );
    this.#users.set(key, pending);
    pending.catch(() => {}); // requests await it; none waiting is no "unhandled" error
    return pending;
  }

  #forgetOwner(key: string): void {
    const uid = this.#userOwners.get(key);
    if (uid === undefined) return;
    this.#userOwners.delete(key);
    this.byUid.remove(uid);
  }

  /** The fd of a user namespace made earlier by userNamespace(). */
  userFd(maps: UserNamespaceMaps): number {
    const fd = this.#users.get(userKey(maps));
    if (typeof fd !== "number") throw new Error("user namespace is not ready");
    return fd;
  }

  openLease(onEnd: () => void): Lease {
    const lease = new Lease(this.factory.loop, () => {
      this.#leases.delete(lease);
      onEnd();
    });
    this.#leases.add(lease);
    return lease;
  }

  /** What the control socket shows (read-only): the fds held, the init, leases, maps. */
  inspect(): {
    ipcFd: number | null;
    pidFd: number | null;
    initPid: number | null;
    leases: number;
    users: { uidMap: string; gidMap: string; fd: number | null }[];
  } {
    return {
      ipcFd: this.#ipc >= 0 ? this.#ipc : null,
      pidFd: this.#pid?.fd ?? null,
      initPid: this.#pid?.pid ?? null,
      leases: this.#leases.size,
      users: [...this.#users].map(([key, fd]) => {
        const split = key.indexOf("\0");
        return {
          uidMap: key.slice(0, split),
          gidMap: key.slice(split + 1),
          fd: typeof fd === "number" ? fd : null,
        };
      }),
    };
  }

  get hasPidNamespace(): boolean {
    return this.#pid !== null;
  }

  get leaseCount(): number {
    return this.#leases.size;
  }

  #initExited(pid: PidNamespace): void {
    if (this.#pid !== pid) return; // discarded before: expected
    this.#pid = null;
    logWarning(`${JSON.stringify(this.name)}: init pid ${pid.pid} exited; forgetting it`, {
      SPAWN_NAME: this.name,
    });
  }

  /**
   * Closes every handle the daemon holds and kills the init; the promise
   * settles when the init is gone.
   */
  discard(): Promise<unknown> {
    if (this.#discarded) return Promise.resolve();
    this.#discarded = true;
    closeQuietly(this.#ipc);
    this.#ipc = -1;
    const pid = this.#pid;
    this.#pid = null;
    pid?.kill();
    pid?.close();
    const exited = pid?.exited ?? Promise.resolve();
    for (const fd of this.#users.values()) if (typeof fd === "number") closeQuietly(fd);
    this.#users.clear();
    for (const key of [...this.#userOwners.keys()]) this.#forgetOwner(key);
    for (const lease of this.#leases) lease.close();
    this.#leases.clear();
    return exited;
  }
}
