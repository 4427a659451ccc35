// A user namespace with the requested uid_map/gid_map.
//
// unshare(CLONE_NEWUSER) is refused (EINVAL) in a threaded process such as
// Deno, so a helper child does it (USER_SCRIPT in helper_programs.ts); helpers
// are started ahead of demand (namespace_pool.ts), off the event loop. Once
// one reports that it has unshared, taking it is synchronous: the daemon
// opens /proc/HELPER/ns/user and writes the maps from the parent namespace
// (where it is privileged), then dismisses the helper (end of file on its
// stdin). The open fd keeps the namespace alive.
import type { EventLoop } from "../ffi/event_loop.ts";
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { closeQuietly, O_WRONLY, open, write } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { ChildPipes } from "./child_pipes.ts";
import { userHelperArgv } from "./helper_programs.ts";
import { failed } from "./namespace_error.ts";

export class UserNamespaceHelper {
  #child: ChildPipes | null = null;
  #state: "starting" | "ready" | "used" | "dead" = "starting";
  readonly #ready = Promise.withResolvers<UserNamespaceHelper>();
  readonly #started: Promise<unknown>;
  /** Called once if the helper dies while ready. */
  onDeath: () => void = () => {};

  private constructor(loop: EventLoop, wrapper: string[]) {
    this.#ready.promise.catch(() => {});
    this.#started = ChildPipes.start(
      loop,
      userHelperArgv(),
      (text) => {
        if (text === null) this.#fail(new Error("the user namespace helper exited early"));
        else if (this.#state === "starting" && text.includes("u")) {
          this.#state = "ready";
          this.#child?.closeStdout();
          this.#ready.resolve(this);
        }
      },
      () => {
        this.#child?.closeStdin();
        const wasReady = this.#state === "ready";
        this.#fail(new Error("the user namespace helper exited early"));
        if (wasReady) this.onDeath();
      },
      {},
      wrapper,
    ).then(
      (child) => {
        this.#child = child;
        if (this.#state === "dead") child.kill();
      },
      (error) => this.#fail(failed("start the user namespace helper", error)),
    );
  }

  static start(loop: EventLoop, wrapper: string[] = []): UserNamespaceHelper {
    return new UserNamespaceHelper(loop, wrapper);
  }

  get ready(): Promise<UserNamespaceHelper> {
    return this.#ready.promise;
  }

  get isReady(): boolean {
    return this.#state === "ready";
  }

  /** The helper's user namespace with `maps` written, as an fd; dismisses the helper. */
  take(maps: UserNamespaceMaps): number {
    if (this.#state !== "ready") throw new Error(`user namespace helper is ${this.#state}`);
    this.#state = "used";
    const pid = this.#child!.pid;
    try {
      let fd: number;
      try {
        fd = openNamespace(pid, "user");
      } catch (e) {
        throw failed("open the user namespace", e);
      }
      try {
        if (maps.uidMap.length > 0) writeMap(pid, "uid_map", maps.uidMap);
        if (maps.gidMap.length > 0) writeMap(pid, "gid_map", maps.gidMap);
      } catch (e) {
        closeQuietly(fd);
        throw e;
      }
      return fd;
    } catch (e) {
      throw failed("create user namespace", e);
    } finally {
      this.#child!.closeStdin(); // it exits on end of file; its pidfd reaps it
    }
  }

  dismiss(): void {
    this.#fail(new Error("dismissed"));
  }

  /** Settles when the helper process is gone. */
  async gone(): Promise<void> {
    await this.#started;
    await this.#child?.gone;
  }

  #fail(error: unknown): void {
    if (this.#state === "dead") return;
    const before = this.#state;
    this.#state = "dead";
    this.#child?.kill();
    this.#child?.closeStdout();
    if (before === "starting") this.#ready.reject(error);
  }
}

/** One write(2) of the whole map, as the kernel requires. */
function writeMap(pid: number, file: "uid_map" | "gid_map", map: Uint8Array): void {
  let fd = -1;
  try {
    fd = open(`/proc/${pid}/${file}`, O_WRONLY);
    write(fd, map.slice());
  } catch (e) {
    throw failed(`write ${file}`, e);
  } finally {
    closeQuietly(fd);
  }
}
