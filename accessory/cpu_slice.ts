// The time slice the daemon asks the kernel for (--cpu-slice): EEVDF's
// custom slice (Linux 6.12+), which the pool program, the perl factory, the
// inits and the user namespace helpers inherit (fork and clone keep it). On a
// busy host, a woken task with a short slice gets its turn before busy
// processes finish their longer slices: a new name needs the daemon, an init
// and the pool program each to get a CPU in turn, and with two busy loops on
// this 2-core machine that made 430-480 new names/s flat out (p50 2.7 ms)
// instead of 1,330-1,470 (p50 0.24 ms); idle, it changes nothing measurable.
// The slice is a request, not a priority: the share of CPU time stays the
// same (nice and cgroup weights decide that). Only the calling (JS) thread
// and what it starts later get it; a child started from a worker thread gets
// it through giveCpuSlice().
import { getSchedAttr, SCHED_BATCH, SCHED_OTHER, setSchedAttr } from "../ffi/sched_attr.ts";

/** The kernel's range for a custom slice: 0.1-100 ms. */
export const MIN_SLICE_US = 100;
export const MAX_SLICE_US = 100_000;

/**
 * Asks for a `microseconds` slice for the calling thread, keeping its policy
 * and nice value. Returns null if it took, else why not (for a log line).
 */
export function askForCpuSlice(microseconds: number): string | null {
  const attr = getSchedAttr(0);
  if (attr.policy !== SCHED_OTHER && attr.policy !== SCHED_BATCH) {
    return `not with scheduling policy ${attr.policy} (only SCHED_OTHER and SCHED_BATCH have one)`;
  }
  const wanted = BigInt(Math.round(microseconds)) * 1000n;
  setSchedAttr(0, { ...attr, flags: 0n, runtime: wanted });
  if (getSchedAttr(0).runtime !== wanted) {
    return "this kernel does not take a custom slice (Linux 6.12 and later do)";
  }
  asked = wanted;
  return null;
}

/** The slice askForCpuSlice() got, in ns. */
let asked: bigint | null = null;

/**
 * Gives `pid` the slice the daemon asked for: for a child started from
 * another thread (posix_spawn on a worker), which inherits that thread's.
 * Best effort, like the slice itself.
 */
export function giveCpuSlice(pid: number): void {
  if (asked === null) return;
  try {
    setSchedAttr(pid, { ...getSchedAttr(pid), flags: 0n, runtime: asked });
  } catch {
    // Gone already, or refused: it runs with the kernel's default.
  }
}
