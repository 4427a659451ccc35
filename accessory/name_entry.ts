// The namespaces of one NAME, created on first request and kept until the
// name expires (see lifetime.ts) or the daemon stops. Making them never
// blocks the event loop: prepare() says what a request has to wait for.
import { closeQuietly } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { errorMessage, logInfo, logWarning } from "../shared/log.ts";
import type { Request, UserNamespaceMaps } from "../shared/protocol.ts";
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

/** A scheduled look at whether a name has expired (namespace_registry.ts). */
export interface ExpiryCheck {
  entry: NameEntry;
  deadline: number;
}

export class NameEntry {
  readonly lifetime: Lifetime;
  #ipc = -1;
  #pid: PidNamespace | null = null;
  #pidPending: Promise<void> | null = null;
  // Made on first use: most names never have a user namespace or a lease,
  // and an empty Map and Set cost some 500 bytes per name.
  #usersMap: Map<string, number | Promise<number>> | null = null;
  /** Who a user namespace was made for (counted in byUid). */
  #userOwners: Map<string, number> | null = null;
  #leasesSet: Set<Lease> | null = null;
  #discarded = false;
  /** A new init not logged yet (its pid): see afterReply(). */
  #announce = 0;
  /** Something was taken from the pool since the last reply: see afterReply(). */
  #madeSomething = false;

  /** The pending expiry check, managed by the registry. */
  expiry: ExpiryCheck | undefined;

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

  /**
   * Makes what `request` needs and the name lacks. Returns null if the reply
   * can be assembled at once, else a promise to wait for (no waiting happens
   * on the event loop). Throws if making an IPC namespace fails.
   */
  prepare(request: Request, uid = 0): Promise<unknown> | null {
    // No allocation for the common case: everything exists.
    const pid = request.ipc || request.pid ? this.#preparePidIpc(request.pid) : null;
    const made = request.user ? this.userNamespace(request.user, uid) : null;
    const user = made instanceof Promise ? made : null;
    if (pid === null) return user;
    return user === null ? pid : Promise.all([pid, user]);
  }

  #preparePidIpc(needPid: boolean): Promise<void> | null {
    // While an init is being made, its IPC namespace becomes the name's too.
    if (this.#pidPending !== null) return this.#pidPending;
    if (!needPid || this.#pid !== null) {
      if (this.#ipc < 0) this.#ipc = this.factory.ipc(); // some 0.04 ms: synchronous
      return null;
    }
    // The init lives in the name's IPC namespace (so that a restarted daemon
    // adopts both): the existing one, or the one it comes with.
    this.#madeSomething = true;
    const pending = this.factory.pid(
      this.name,
      this.#ipc >= 0 ? this.#ipc : null,
      (gone) => this.#initExited(gone),
    ).then(({ namespace, ipc }) => {
      if (this.#discarded) {
        namespace.kill();
        namespace.close();
        closeQuietly(ipc ?? -1);
        throw new NamespaceError(`namespaces of ${JSON.stringify(this.name)} were discarded`);
      }
      this.#pid = namespace;
      if (ipc !== null) {
        if (this.#ipc < 0) this.#ipc = ipc;
        else closeQuietly(ipc);
      }
      this.#announce = namespace.pid; // logged once the reply is out: afterReply()
    }).finally(() => {
      if (this.#pidPending === pending) this.#pidPending = null;
    });
    this.#pidPending = pending;
    pending.catch(() => {}); // requests await it; none waiting is no "unhandled" error
    return pending;
  }

  /** Whether afterReply() has anything to do. */
  get hasAfterReplyWork(): boolean {
    return this.#madeSomething || this.#announce !== 0;
  }

  /**
   * After a reply has been sent: logs what prepare() made (a log line, a
   * write to the journal which wakes journald, need not delay the reply) and
   * says whether it took something from the pool (to be refilled now).
   */
  afterReply(): boolean {
    const made = this.#madeSomething;
    this.#madeSomething = false;
    if (this.#announce !== 0) {
      logInfo(`${JSON.stringify(this.name)}: new PID namespace, init pid ${this.#announce}`, {
        SPAWN_NAME: this.name,
      });
      this.#announce = 0;
    }
    return made;
  }

  /** The name's IPC namespace, made by prepare(). */
  ipcFd(): number {
    if (this.#ipc < 0) throw new NamespaceError("IPC namespace is not ready");
    return this.#ipc;
  }

  /** Takes over an init of a previous run as NAME's PID namespace. */
  adoptPid(adopt: (onExit: (gone: PidNamespace) => void) => PidNamespace): PidNamespace {
    if (this.#pid !== null) throw new Error(`${JSON.stringify(this.name)} has a PID namespace`);
    const pid = adopt((gone) => this.#initExited(gone));
    this.#pid = pid;
    // The init lives in the name's IPC namespace (see prepare()): take it too.
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

  /** NAME's PID namespace, made by prepare(). */
  pidFd(): number {
    if (this.#pid === null) {
      throw new NamespaceError(`the init of ${JSON.stringify(this.name)} exited`);
    }
    return this.#pid.fd;
  }

  #users(): Map<string, number | Promise<number>> {
    return this.#usersMap ??= new Map();
  }

  /** User namespaces made or being made for this name. */
  get userNamespaces(): number {
    return this.#usersMap?.size ?? 0;
  }

  hasUserNamespace(maps: UserNamespaceMaps): boolean {
    return this.#usersMap?.has(userKey(maps)) ?? false;
  }

  /** The cached fd, or a promise shared by every request for the same maps. */
  userNamespace(maps: UserNamespaceMaps, uid = 0): number | Promise<number> {
    const key = userKey(maps);
    const cached = this.#usersMap?.get(key);
    if (cached !== undefined) return cached;
    (this.#userOwners ??= new Map()).set(key, uid);
    this.byUid.add(uid);
    let made: number | Promise<number>;
    this.#madeSomething = true; // the pool is refilled once the reply is out
    try {
      made = this.factory.user(maps); // throws if taking a ready helper fails
    } catch (e) {
      this.#forgetOwner(key);
      throw e;
    }
    if (!(made instanceof Promise)) {
      this.#users().set(key, made);
      return made;
    }
    const pending = made.then(
      (fd) => {
        if (this.#discarded) {
          closeQuietly(fd);
          throw new NamespaceError(`namespaces of ${JSON.stringify(this.name)} were discarded`);
        }
        this.#users().set(key, fd);
        return fd;
      },
      (error) => {
        this.#usersMap?.delete(key);
        this.#forgetOwner(key);
        throw error;
      },
    );
    this.#users().set(key, pending);
    pending.catch(() => {}); // requests await it; none waiting is no "unhandled" error
    return pending;
  }

  #forgetOwner(key: string): void {
    const uid = this.#userOwners?.get(key);
    if (uid === undefined) return;
    this.#userOwners!.delete(key);
    this.byUid.remove(uid);
  }

  /** The fd of a user namespace made earlier by userNamespace(). */
  userFd(maps: UserNamespaceMaps): number {
    const fd = this.#usersMap?.get(userKey(maps));
    if (typeof fd !== "number") throw new Error("user namespace is not ready");
    return fd;
  }

  openLease(onEnd: () => void): Lease {
    const lease = new Lease(this.factory.loop, () => {
      this.#leasesSet?.delete(lease);
      onEnd();
    });
    (this.#leasesSet ??= new Set()).add(lease);
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
      leases: this.leaseCount,
      users: [...this.#usersMap ?? []].map(([key, fd]) => {
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
    return this.#leasesSet?.size ?? 0;
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
    for (const fd of this.#usersMap?.values() ?? []) if (typeof fd === "number") closeQuietly(fd);
    this.#usersMap = null;
    for (const key of [...this.#userOwners?.keys() ?? []]) this.#forgetOwner(key);
    for (const lease of this.#leasesSet ?? []) lease.close();
    this.#leasesSet = null;
    return exited;
  }
}
