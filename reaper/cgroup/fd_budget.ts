// How many fds the cgroup tracker may hold: the soft RLIMIT_NOFILE minus a
// reserve for everything else. Deno itself panics when it cannot get an fd
// (a thread reading /proc/self/maps, a signal listener), and Lua scripts and
// PostgreSQL connections need theirs, so the tracker must never be the one
// that takes the last fds. The limit is read again (at most once a second)
// while the budget is exhausted, so `prlimit --pid` raising it is noticed.

/** The soft "Max open files" of /proc/self/limits text, or null. */
export function parseOpenFilesLimit(limits: string): number | null {
  const m = limits.match(/^Max open files\s+(\d+|unlimited)\s/m);
  if (!m) return null;
  return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/** The fds kept free for the rest of the process at a given limit. */
export function reserveFor(limit: number): number {
  return Math.min(256, Math.max(32, Math.floor(limit / 4)));
}

export class FdBudget {
  #limit: number;
  #checkedAt = 0;
  /** fds held now (counted by the caller). */
  held = 0;

  constructor(
    readonly readLimits: () => string = () => Deno.readTextFileSync("/proc/self/limits"),
  ) {
    this.#limit = this.#read() ?? 1024;
  }

  #read(): number | null {
    try {
      return parseOpenFilesLimit(this.readLimits());
    } catch {
      return null; // no fd to read it with: keep the last value
    }
  }

  get limit(): number {
    return this.#limit;
  }

  /** Whether one more fd may be held (re-reads the limit when it says no). */
  allows(): boolean {
    if (this.held < this.#limit - reserveFor(this.#limit)) return true;
    const now = performance.now();
    if (now - this.#checkedAt >= 1000) {
      this.#checkedAt = now;
      this.#limit = this.#read() ?? this.#limit;
    }
    return this.held < this.#limit - reserveFor(this.#limit);
  }
}
