// Namespaces made ahead of demand: prepared inits (a PID and an IPC namespace
// each) and user namespace helpers (user_namespace.ts), made by the pool
// program (pool_program.ts: pooled_init.ts) where there is one for this
// machine, else by the perl factory (helper_programs.ts: prepared_init.ts). A
// new name takes one that is ready, so its reply waits for no process start;
// taking one starts a replacement in the background. The pool is bounded by
// its own size (not counted against --max-names); with size 0 everything is
// made on demand, still off the event loop. Nothing in it outlives the
// daemon: its processes end on end of file from the daemon's pipes.
import type { EventLoop } from "../ffi/event_loop.ts";
import { errorMessage, logWarning } from "../shared/log.ts";
import { type Naming, PreparedInit } from "./prepared_init.ts";
import type { InitLinks } from "./init_links.ts";
import { UserNamespaceHelper } from "./user_namespace.ts";
import { HelperFactory } from "./helper_factory.ts";
import { QuietWatch } from "./quiet_watch.ts";
import { PoolFactory } from "./pool_factory.ts";
import { PooledInit } from "./pooled_init.ts";

/** Environment variable: "perl" makes the daemon use the perl factory even where the pool program runs. */
export const FACTORY_VARIABLE = "CM4ALL_SPAWN_ACCESSORY_FACTORY";

/** Starts in flight at once per kind: refilling must not crowd out requests. */
const MAX_STARTING = 4;
/** After a failed start, wait this long before refilling again. */
const RETRY_MS = 1000;

interface Item {
  readonly ready: Promise<unknown>;
  readonly isReady: boolean;
  onDeath: () => void;
  dismiss(): void;
  gone(): Promise<void>;
}

/** One kind of prepared thing, kept at `size` ready. */
class Reserve<T extends Item> {
  readonly #ready: T[] = [];
  readonly #all = new Set<T>();
  #starting = 0;
  readonly #waiters: PromiseWithResolvers<T>[] = [];
  #retryAt = 0;
  #lastError: unknown = undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    readonly what: string,
    readonly size: number,
    readonly make: () => T,
  ) {}

  /**
   * A ready one now, or a promise of the next one. Taking a ready one does
   * not refill: the caller calls fill() once its reply is out, so that
   * making the replacement does not compete with it for the CPU.
   */
  take(): T | Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the daemon is stopping"));
    let item = this.#ready.shift();
    while (item !== undefined && !item.isReady) item = this.#ready.shift();
    if (item !== undefined) return item;
    // Making one failed a moment ago (say, out of fds): fail at once rather
    // than hold the request until the retry.
    if (this.#lastError !== undefined && performance.now() < this.#retryAt) {
      return Promise.reject(this.#lastError);
    }
    const waiter = Promise.withResolvers<T>();
    this.#waiters.push(waiter);
    this.#refill();
    return waiter.promise;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  /** Fills the reserve up (called once at start and after every take). */
  #refill(): void {
    if (this.#closed) return;
    const wanted = this.size + this.#waiters.length;
    while (this.#starting < MAX_STARTING && this.#ready.length + this.#starting < wanted) {
      const delay = this.#retryAt - performance.now();
      if (delay > 0) {
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = undefined;
          this.#refill();
        }, delay);
        return;
      }
      this.#startOne();
    }
  }

  fill(): void {
    this.#refill();
  }

  #startOne(): void {
    this.#starting++;
    let item: T;
    try {
      item = this.make();
    } catch (e) {
      this.#starting--;
      this.#failed(e);
      return;
    }
    this.#all.add(item);
    item.gone().finally(() => this.#all.delete(item));
    item.ready.then(
      () => {
        this.#starting--;
        if (this.#closed) {
          item.dismiss();
          return;
        }
        const waiter = this.#waiters.shift();
        if (waiter) {
          waiter.resolve(item);
        } else {
          this.#ready.push(item);
          item.onDeath = () => {
            const i = this.#ready.indexOf(item);
            if (i >= 0) this.#ready.splice(i, 1);
            this.#refill();
          };
        }
        this.#refill();
      },
      (error) => {
        this.#starting--;
        this.#failed(error);
        this.#refill();
      },
    );
  }

  /** Tells whoever waits (they would wait forever otherwise) and backs off. */
  #failed(error: unknown): void {
    logWarning(`cannot prepare a ${this.what}: ${errorMessage(error)}`);
    this.#retryAt = performance.now() + RETRY_MS;
    this.#lastError = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  /** Also ends `item` on close() (made outside the reserve). */
  track<U extends T>(item: U): U {
    this.#all.add(item);
    item.gone().finally(() => this.#all.delete(item));
    return item;
  }

  /** Dismisses everything not handed out (dismiss() spares those); settles when those processes are gone. */
  close(): Promise<unknown> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new Error("the daemon is stopping"));
    }
    const items = [...this.#all];
    this.#ready.length = 0;
    for (const item of items) item.dismiss();
    return Promise.allSettled(items.map((item) => item.gone()));
  }
}

export interface PoolSizes {
  /** Prepared inits (PID + IPC namespaces) kept ready. */
  inits: number;
  /** User namespace helpers kept ready. */
  userHelpers: number;
}

export const DEFAULT_POOL: Readonly<PoolSizes> = { inits: 4, userHelpers: 4 };

export type Init = PreparedInit | PooledInit;

export interface PoolOptions {
  /** The pool program's image (pool_program.ts), or null for the perl factory. */
  program: Uint8Array<ArrayBuffer> | null;
  /** The inits' instance marker, and room for NAME in it (pool program). */
  instance: string;
  maxName: number;
  /** The init-NAME symlinks (perl factory). */
  links: InitLinks;
  /** A file each build waits for (a test seam: a slow build without timing). */
  gate: string | null;
}

export class NamespacePool {
  readonly inits: Reserve<Init>;
  readonly userHelpers: Reserve<UserNamespaceHelper>;

  /** The perl factory: prepared inits and helpers where there is no pool program. */
  readonly factory: HelperFactory | null;
  readonly program: PoolFactory | null;
  /** What need not wake the daemon: execs of assigned inits, exits of used helpers. */
  readonly quiet = new QuietWatch();
  readonly #naming: Naming;

  constructor(
    readonly loop: EventLoop,
    sizes: PoolSizes,
    options: PoolOptions,
  ) {
    this.#naming = { links: options.links, instance: options.instance };
    let program: PoolFactory | null = null;
    if (options.program !== null) {
      program = new PoolFactory(
        loop,
        options.program,
        options.instance,
        options.maxName,
        options.gate,
      );
      try {
        program.start();
      } catch (e) {
        // Say, a kernel that refuses to execute memfds (vm.memfd_noexec=2).
        logWarning(`cannot start the pool program: ${errorMessage(e)}; using the perl factory`);
        void program.close();
        program = null;
      }
    }
    this.program = program;
    this.factory = program === null
      ? new HelperFactory(loop, [], options.gate ? [`GATE=${options.gate}`] : [])
      : null;
    const source = program ?? this.factory!;
    this.inits = new Reserve<Init>("PID namespace", sizes.inits, () => this.#startInit(null));
    this.userHelpers = new Reserve(
      "user namespace helper",
      sizes.userHelpers,
      () => UserNamespaceHelper.start(loop, source, this.quiet),
    );
  }

  /** Starts filling (after the daemon has adopted what a predecessor left). */
  fill(): void {
    this.quiet.check(); // awake anyway
    this.inits.fill();
    this.userHelpers.fill();
  }

  /** A prepared init that joins `ipc` instead of making an IPC namespace: never pooled. */
  initIn(ipc: number): Promise<Init> {
    return this.inits.track(this.#startInit(ipc)).ready;
  }

  /** A prepared init in a new IPC namespace, or in `ipc`. */
  #startInit(ipc: number | null): Init {
    return this.program !== null
      ? PooledInit.start(this.loop, this.program, ipc)
      : PreparedInit.start(this.loop, this.factory!, this.quiet, this.#naming, ipc);
  }

  /** Ends everything made ahead, then the factory; settles when all of it is gone. */
  async close(): Promise<unknown> {
    this.quiet.close();
    const items = Promise.allSettled([this.inits.close(), this.userHelpers.close()]);
    await Promise.allSettled([this.factory?.close(), this.program?.close()]);
    return await items;
  }
}
