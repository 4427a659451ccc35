// Gives a daemon's free C heap back to the kernel once a burst of work is
// over. What Deno's Rust side frees (the bundle's parse at start-up, buffers
// of a busy spell) stays resident in glibc's arenas; one malloc_trim(3) after
// the work returns it (about 4.7 MB of a freshly started accessory run from
// its bundle: README "Memory"). Trimming only after a quiet interval keeps it
// off busy periods, and an idle daemon is not woken for it more than once an
// interval.
import { trimMallocHeap } from "../ffi/malloc.ts";

/** How long the work counter must stand still before a trim. */
export const TRIM_QUIET_MS = 2000;

/**
 * The decision, apart from timers: fed the work counter once an interval,
 * says when to trim: the first time the counter has not moved for a whole
 * interval since it last moved (or since start-up, which is work too).
 */
export class TrimSchedule {
  #seen: number;
  #pending = true;

  /** `counter`: its value at start-up (which is work, so a trim is pending). */
  constructor(counter: number) {
    this.#seen = counter;
  }

  /** True when this tick should trim. */
  tick(counter: number): boolean {
    if (counter !== this.#seen) {
      this.#seen = counter;
      this.#pending = true;
      return false;
    }
    if (!this.#pending) return false;
    this.#pending = false;
    return true;
  }
}

/**
 * Every `intervalMs`, trims the C heap when `counter()` (e.g. requests served)
 * stood still since the last tick after having moved. The timer does not
 * keep the process alive. Returns a stop function.
 */
export function startHeapTrimmer(
  counter: () => number,
  intervalMs = TRIM_QUIET_MS,
  trim: () => unknown = trimMallocHeap,
): () => void {
  const schedule = new TrimSchedule(counter());
  const timer = setInterval(() => {
    if (schedule.tick(counter())) trim();
  }, intervalMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
