// NAME -> its namespaces, with expiry. A request holds its entry until the
// answer is sent, a lease until its pipe closes; an entry nobody holds is
// discarded `ttl` after the last request or release.
import { logInfo } from "../shared/log.ts";
import { type ExpiryCheck, NameEntry } from "./name_entry.ts";
import { MinHeap } from "./min_heap.ts";
import type { NamespaceFactory } from "./namespace_factory.ts";
import { UidCounter } from "./uid_counter.ts";

export class NamespaceRegistry {
  readonly #entries = new Map<string, NameEntry>();
  /** User namespaces held per requesting uid, over all names (issue 14). */
  readonly userNamespacesByUid = new UidCounter();
  /** Pending expiry checks (see #arm). */
  readonly #expiries = new MinHeap<ExpiryCheck>((a, b) => a.deadline - b.deadline);
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly factory: NamespaceFactory,
    /** Milliseconds. */
    readonly ttl: number,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** The entry for NAME (created if new), touched and held. */
  acquire(name: string): NameEntry {
    let entry = this.#entries.get(name);
    if (entry === undefined) {
      entry = new NameEntry(name, this.factory, this.ttl, this.now(), this.userNamespacesByUid);
      this.#entries.set(name, entry);
    } else {
      entry.lifetime.touch(this.now());
    }
    entry.lifetime.hold();
    return entry;
  }

  /**
   * A new, unheld entry for NAME around an init of a previous run; its TTL
   * starts now. Returns false if NAME is taken already.
   */
  adopt(name: string, adopt: Parameters<NameEntry["adoptPid"]>[0]): boolean {
    if (this.#entries.has(name)) return false;
    const entry = new NameEntry(name, this.factory, this.ttl, this.now(), this.userNamespacesByUid);
    entry.adoptPid(adopt);
    this.#entries.set(name, entry);
    this.#arm(entry);
    return true;
  }

  release(entry: NameEntry): void {
    if (entry.discarded) return;
    entry.lifetime.release(this.now());
    if (entry.lifetime.holds === 0) this.#arm(entry);
  }

  /** A lease of the entry: held until the client closes its write end. */
  lease(entry: NameEntry): number {
    const lease = entry.openLease(() => this.release(entry));
    entry.lifetime.hold();
    return lease.writeEnd;
  }

  get(name: string): NameEntry | undefined {
    return this.#entries.get(name);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Every live entry (read-only use: status, control socket). */
  entries(): IterableIterator<NameEntry> {
    return this.#entries.values();
  }

  /**
   * Schedules the expiry check of an entry nobody holds. One timer for all
   * (a Deno timer per name costs about 1 KB) over a min-heap of deadlines;
   * an entry has at most one pending check, which re-arms itself if the
   * deadline moved meanwhile (like a timer per name would).
   */
  #arm(entry: NameEntry, now = this.now()): void {
    if (entry.expiry !== undefined) return;
    // One reading of the clock: with two, the check could come a hair before
    // the deadline it is for (see #expire).
    const record = { entry, deadline: now + entry.lifetime.remaining(now) };
    entry.expiry = record;
    this.#expiries.push(record);
    if (this.#expiries.peek() === record) this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const next = this.#expiries.peek();
    if (next === undefined) return;
    const wait = next.deadline - this.now();
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(wait)));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.now();
    // Entries that live on are armed again after the pass: armed inside it,
    // a check due before its entry's deadline came up again and again with
    // this same `now`, and the daemon spun forever.
    const again: NameEntry[] = [];
    for (let next; (next = this.#expiries.peek()) !== undefined && next.deadline <= now;) {
      this.#expiries.pop();
      const { entry } = next;
      if (entry.expiry !== next) continue; // discarded meanwhile
      entry.expiry = undefined;
      if (entry.discarded || entry.lifetime.holds > 0) continue; // armed again on release
      if (entry.lifetime.expired(now)) this.#discard(entry);
      else again.push(entry);
    }
    for (const entry of again) this.#arm(entry, now);
    this.#schedule();
  }

  #discard(entry: NameEntry): Promise<unknown> {
    entry.expiry = undefined;
    if (this.#entries.get(entry.name) === entry) this.#entries.delete(entry.name);
    logInfo(`${JSON.stringify(entry.name)}: discarded`, { SPAWN_NAME: entry.name });
    return entry.discard();
  }

  /** Discards every entry (shutdown); settles when every init is gone. */
  discardAll(): Promise<unknown> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#expiries.clear();
    return Promise.allSettled([...this.#entries.values()].map((e) => this.#discard(e)));
  }
}
