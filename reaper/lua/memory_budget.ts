// A memory budget for a Lua state. fengari allocates on the JS heap and has
// no allocator hook, so the measure is the growth of the whole V8 heap
// (used heap + external memory such as the Uint8Arrays of Lua strings) since
// the state was created. A cheap sample (v8.getHeapStatistics, ~0.2 µs)
// includes garbage; only when it exceeds the budget is a full GC forced and
// the live figure compared. So nothing is aborted because of garbage, but
// memory the daemon itself grew meanwhile (tracker, pg buffers) is charged to
// the script, and one instruction (string.rep) can overshoot before the
// next check.
import v8 from "node:v8";
import vm from "node:vm";

/** After a forced GC found the heap over budget, trust that for this long. */
const OVER_BUDGET_STICKY_MS = 1000;

let forcedGc: (() => void) | null | undefined;

/** A full GC, or null if V8 refuses to expose one. */
function fullGc(): (() => void) | null {
  if (forcedGc === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      forcedGc = vm.runInNewContext("gc") as () => void;
    } catch {
      forcedGc = null;
    }
  }
  return forcedGc;
}

function heapBytes(): number {
  const s = v8.getHeapStatistics();
  return s.used_heap_size + s.external_memory;
}

export class MemoryBudget {
  readonly limit: number;
  #baseline: number;
  #overUntil = 0;

  /** limit in bytes of heap growth allowed from now on. */
  constructor(limit: number, private readonly now: () => number = Date.now) {
    this.limit = limit;
    fullGc()?.();
    this.#baseline = heapBytes();
  }

  /** Live growth since creation, after a full GC (a few ms). */
  liveGrowth(): number {
    fullGc()?.();
    return heapBytes() - this.#baseline;
  }

  /** True when the state's memory is over budget. Cheap unless the sample is over. */
  exceeded(): boolean {
    if (heapBytes() - this.#baseline <= this.limit) return false;
    if (this.now() < this.#overUntil) return true;
    if (this.liveGrowth() <= this.limit) return false;
    this.#overUntil = this.now() + OVER_BUDGET_STICKY_MS;
    return true;
  }

  /** The error text raised in the script. */
  message(): string {
    return `memory budget exceeded (${formatMiB(this.limit)} MiB per Lua state)`;
  }
}

function formatMiB(bytes: number): string {
  return String(Math.round(bytes / 1048576 * 10) / 10);
}
