// The life of a prepared init, whichever factory made it (the pool program:
// pooled_init.ts; the perl factory: prepared_init.ts): starting -> ready
// (its process watched and its namespaces open, its command pipe and ack
// pipe ours) -> naming -> named (it shows as init-NAME: a PidNamespace) or
// dead. The subclasses say how it starts and how it is told its NAME.
import type { EventLoop } from "../ffi/event_loop.ts";
import { closeQuietly, read } from "../ffi/fd.ts";
import { unwatchNaming, watchNaming } from "./naming_watchdog.ts";
import type { PidNamespace } from "./pid_namespace.ts";
import { PreparedNamespaces } from "./prepared_namespaces.ts";

/** What an init writes on its ack pipe once it shows as init-NAME. */
export const ACK = 0x2e; // "."
const chunk = new Uint8Array(64);

export abstract class PreparedInitLife {
  protected process: PreparedNamespaces | null = null;
  /** Our ends: its command pipe (write) and its ack pipe (read). */
  protected command = -1;
  protected ack = -1;
  protected state: "starting" | "ready" | "naming" | "named" | "dead" = "starting";
  readonly #ready = Promise.withResolvers<this>();
  readonly #gone = Promise.withResolvers<void>();
  #named: PromiseWithResolvers<PidNamespace> | null = null;
  #onExit: ((namespace: PidNamespace) => void) | null = null;
  #dismissed = false;
  /** Called once if the init dies while ready (not yet named). */
  onDeath: () => void = () => {};

  constructor(readonly loop: EventLoop, readonly ownIpc: boolean) {
    this.#ready.promise.catch(() => {}); // a failed start is reported to whoever waits
  }

  /** Settles when the init waits for its NAME (or failed to start). */
  get ready(): Promise<this> {
    return this.#ready.promise;
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  /** Settles when its process is gone or is NAME's init. */
  gone(): Promise<void> {
    return this.#gone.promise;
  }

  /**
   * The IPC namespace it made (null if it joined one), opened ahead; the
   * caller owns the fd from now on. Only once it is NAME's init.
   */
  takeIpcNamespace(): number | null {
    return this.state === "named" ? this.process!.takeIpcNamespace() : null;
  }

  /** Ends it unless named (shutdown, or a pool that shrinks). */
  dismiss(): void {
    // Still being made: ended as soon as the factory answers (or fails).
    if (this.state === "starting") this.#dismissed = true;
    else this.fail(new Error("dismissed"));
  }

  /** Makes it NAME's init; resolves once it shows as init-NAME. */
  abstract become(name: string, onExit: (namespace: PidNamespace) => void): Promise<PidNamespace>;

  /**
   * The factory made it: watches `pid`, then `setUp` (opening what the
   * subclass needs), then opens its namespaces; ready unless that failed.
   */
  protected started(pid: number, setUp: () => void): void {
    try {
      this.process = new PreparedNamespaces(this.loop, pid, () => this.#exit());
      setUp();
      this.process.openNamespaces(this.ownIpc);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.state = "ready";
    this.#ready.resolve(this);
    if (this.#dismissed) this.fail(new Error("dismissed"));
  }

  /** become(): from ready to naming; the promise of NAME's PidNamespace. */
  protected naming(onExit: (namespace: PidNamespace) => void): Promise<PidNamespace> {
    if (this.state !== "ready") throw new Error(`prepared init is ${this.state}`);
    this.state = "naming";
    // Its answer is what the reply waits for: no turn for JS tasks meanwhile.
    this.loop.holdTurns();
    this.#named = Promise.withResolvers<PidNamespace>();
    this.#onExit = onExit;
    const pid = this.process!.pid;
    watchNaming(this, () => this.fail(new Error(`init ${pid} did not take its name`)));
    return this.#named.promise;
  }

  /** It shows as init-NAME: hands it out as a PidNamespace; false if that failed. */
  protected took(): boolean {
    unwatchNaming(this);
    let namespace: PidNamespace;
    try {
      namespace = this.process!.handOver(this.#onExit!);
    } catch (e) {
      this.fail(e);
      return false;
    }
    this.loop.releaseTurns();
    this.state = "named";
    this.#gone.resolve();
    this.#named!.resolve(namespace);
    this.loop.settleSoon(); // the reply waits for it
    return true;
  }

  #exit(): void {
    this.process!.reapExited();
    const wasReady = this.state === "ready";
    this.fail(new Error(`prepared init ${this.process!.pid} exited`));
    this.#gone.resolve();
    if (wasReady) this.onDeath();
  }

  /** Ends it (unless named): closes our pipe ends, kills it, fails whoever waits. */
  protected fail(error: unknown): void {
    if (this.state === "named" || this.state === "dead") return;
    const before = this.state;
    this.state = "dead";
    unwatchNaming(this);
    if (before === "naming") this.loop.releaseTurns();
    closeQuietly(this.command);
    this.command = -1;
    if (this.ack >= 0) {
      this.loop.remove(this.ack);
      closeQuietly(this.ack);
      this.ack = -1;
    }
    // #exit reaps it; without a process (never started) it is gone already.
    if (!this.process?.kill()) this.#gone.resolve();
    if (before === "starting") this.#ready.reject(error);
    this.#named?.reject(error);
    this.failed();
  }

  /**
   * Reads from its ack pipe (or `fd`, once it changed hands): the first byte
   * read, null if there is nothing yet, -1 at end of file (or on an error).
   */
  protected readAck(fd = this.ack): number | null {
    let n: number | null;
    try {
      n = read(fd, chunk);
    } catch {
      n = 0;
    }
    if (n === null) return null;
    return n > 0 ? chunk[0] : -1;
  }

  /** After fail(): what the subclass must release too. */
  protected failed(): void {}
}
