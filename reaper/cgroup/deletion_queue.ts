// Deferred deletion (spec §3.2 step 4, §3.3): reaped paths collect in a set;
// one timer, pushed back by every addition, removes them deepest first.
import { deletionOrder } from "./path.ts";

/** An opaque timer id. */
export type TimerId = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
  /** Monotonic milliseconds. */
  now(): number;
}

export const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

export class DeletionQueue<T> {
  readonly #entries = new Map<string, T>();
  #timer: TimerId | null = null;
  #firstAt = 0;
  #deadline = 0;

  /**
   * @param remove called for each entry when the timer fires, deepest path first
   * @param discard called for an entry replaced by a newer one for the same path
   * @param delayMs the quiet time after the last addition
   * @param maxDeferralMs bound on how long the first entry can be pushed back,
   *   so a steady stream of reaps cannot hold directories (and fds) forever
   */
  constructor(
    private readonly remove: (path: string, value: T) => void,
    private readonly discard: (value: T) => void,
    private readonly timers: Timers = REAL_TIMERS,
    private readonly delayMs = 50,
    private readonly maxDeferralMs = 1000,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  has(path: string): boolean {
    return this.#entries.has(path);
  }

  add(path: string, value: T): void {
    const now = this.timers.now();
    if (this.#entries.size === 0) this.#firstAt = now;
    const old = this.#entries.get(path);
    if (old !== undefined) this.discard(old);
    this.#entries.set(path, value);
    this.#deadline = Math.min(now + this.delayMs, this.#firstAt + this.maxDeferralMs);
    // One armed timer; when it fires early (the deadline moved), it re-arms
    // for the rest: cheaper than clearTimeout + setTimeout on every reap.
    if (this.#timer === null) this.#arm(this.#deadline - now);
  }

  #arm(ms: number): void {
    this.#timer = this.timers.setTimeout(() => {
      this.#timer = null;
      const rest = this.#deadline - this.timers.now();
      if (rest > 0.5) this.#arm(rest);
      else this.flush();
    }, Math.max(0, ms));
  }

  /** Removes everything queued now (what the timer does). */
  flush(): void {
    if (this.#timer !== null) this.timers.clearTimeout(this.#timer);
    this.#timer = null;
    const entries = new Map(this.#entries);
    this.#entries.clear();
    for (const path of deletionOrder(entries.keys())) this.remove(path, entries.get(path)!);
  }

  /** Shutdown: drops pending deletions (spec §1.5), discarding each value. */
  clear(): void {
    if (this.#timer !== null) this.timers.clearTimeout(this.#timer);
    this.#timer = null;
    for (const value of this.#entries.values()) this.discard(value);
    this.#entries.clear();
  }
}
