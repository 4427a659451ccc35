// A user namespace with the requested uid_map/gid_map.
//
// unshare(CLONE_NEWUSER) is refused (EINVAL) in a threaded process such as
// Deno, so a helper process does it (forked by the factory, FACTORY_SCRIPT
// in helper_programs.ts); helpers are made ahead of demand
// (namespace_pool.ts), off the event loop. Taking a ready one is
// synchronous: the daemon opens /proc/HELPER/ns/user and writes the maps
// from the parent namespace (where it is privileged), then kills the helper.
// The open fd keeps the namespace alive.
import type { EventLoop } from "../ffi/event_loop.ts";
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { closeQuietly, O_WRONLY, open, write } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { failed } from "./namespace_error.ts";
import type { QuietWatch } from "./quiet_watch.ts";

export class UserNamespaceHelper {
  #pid = 0;
  #pidfd = -1;
  /** Its user namespace and its map files, opened while it waits: off the reply's path. */
  #namespace = -1;
  #uidMap = -1;
  #gidMap = -1;
  #state: "starting" | "ready" | "used" | "dead" = "starting";
  #dismissed = false;
  readonly #ready = Promise.withResolvers<UserNamespaceHelper>();
  readonly #gone = Promise.withResolvers<void>();
  /** Called once if the helper dies while ready. */
  onDeath: () => void = () => {};

  private constructor(readonly loop: EventLoop, readonly quiet: QuietWatch) {
    this.#ready.promise.catch(() => {});
  }

  static start(
    loop: EventLoop,
    factory: { userHelper(): Promise<{ pid: number }> },
    quiet: QuietWatch,
  ): UserNamespaceHelper {
    const helper = new UserNamespaceHelper(loop, quiet);
    factory.userHelper().then(
      (answer) => helper.#started(answer.pid),
      (error) => helper.#fail(failed("start the user namespace helper", error)),
    );
    return helper;
  }

  get ready(): Promise<UserNamespaceHelper> {
    return this.#ready.promise;
  }

  get isReady(): boolean {
    return this.#state === "ready";
  }

  #started(pid: number): void {
    try {
      this.#pid = pid;
      // The factory's child, not ours: the pidfd tells when it is gone.
      this.#pidfd = pidfdOpen(pid);
      this.loop.add(this.#pidfd, EPOLLIN, () => this.#exit());
      this.#namespace = openNamespace(pid, "user");
      // Opened by us (root): the kernel checks the opener's privileges when
      // the maps are written later.
      this.#uidMap = open(`/proc/${pid}/uid_map`, O_WRONLY);
      this.#gidMap = open(`/proc/${pid}/gid_map`, O_WRONLY);
    } catch (e) {
      this.#fail(failed("start the user namespace helper", e));
      return;
    }
    this.#state = "ready";
    this.#ready.resolve(this);
    if (this.#dismissed) this.#fail(new Error("dismissed"));
  }

  /** The helper's user namespace with `maps` written, as an fd; ends the helper. */
  take(maps: UserNamespaceMaps): number {
    if (this.#state !== "ready") throw new Error(`user namespace helper is ${this.#state}`);
    this.#state = "used";
    const fd = this.#namespace;
    this.#namespace = -1;
    try {
      try {
        if (maps.uidMap.length > 0) writeMap(this.#uidMap, "uid_map", maps.uidMap);
        if (maps.gidMap.length > 0) writeMap(this.#gidMap, "gid_map", maps.gidMap);
      } catch (e) {
        closeQuietly(fd);
        throw e;
      }
      return fd;
    } catch (e) {
      throw failed("create user namespace", e);
    } finally {
      this.#closeFiles();
      pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL); // the fd keeps the namespace
      // Its exit is certain now: noticed without waking the daemon for it.
      this.loop.remove(this.#pidfd);
      this.quiet.add(this.#pidfd, EPOLLIN, () => this.#exit());
    }
  }

  dismiss(): void {
    if (this.#state === "starting") this.#dismissed = true;
    else this.#fail(new Error("dismissed"));
  }

  /** Settles when the helper process is gone. */
  gone(): Promise<void> {
    return this.#gone.promise;
  }

  #exit(): void {
    // The factory reaps its children; if the factory died first, the helper
    // was re-parented to the daemon (a child subreaper) and is ours to reap.
    reap(this.#pidfd);
    this.loop.remove(this.#pidfd);
    this.quiet.remove(this.#pidfd);
    closeQuietly(this.#pidfd);
    this.#pidfd = -1;
    const wasReady = this.#state === "ready";
    this.#fail(new Error("the user namespace helper exited early"));
    this.#gone.resolve();
    if (wasReady) this.onDeath();
  }

  #closeFiles(): void {
    for (const fd of [this.#namespace, this.#uidMap, this.#gidMap]) closeQuietly(fd);
    this.#namespace = this.#uidMap = this.#gidMap = -1;
  }

  #fail(error: unknown): void {
    if (this.#state === "dead") return;
    const before = this.#state;
    this.#state = "dead";
    this.#closeFiles();
    if (this.#pidfd >= 0) pidfdSendSignal(this.#pidfd, SIGNALS.SIGKILL); // #exit follows
    else this.#gone.resolve();
    if (before === "starting") this.#ready.reject(error);
  }
}

/** One write(2) of the whole map, as the kernel requires. */
function writeMap(fd: number, file: "uid_map" | "gid_map", map: Uint8Array): void {
  try {
    write(fd, map.slice());
  } catch (e) {
    throw failed(`write ${file}`, e);
  }
}
