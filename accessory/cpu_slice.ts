// The time slice the daemon asks the kernel for (--cpu-slice, off by
// default): EEVDF's custom slice (Linux 6.12+), which the pool program, the
// perl factory, the inits and the user namespace helpers inherit (fork and
// clone keep it). A trade-off, measured with two busy loops on the 2-core
// machine (C client, alternating runs): new names flat out went from 430-500/s
// (p50 2.6-2.8 ms) to 1,250-1,680/s (p50 0.22-0.25 ms) with 100 µs, since each of the
// daemon, the init and the pool program is woken and gets a CPU sooner; but a
// lone new name (200/s) went from p50 0.21-0.27 to 0.44-0.56 ms, since a task
// that used up a short slice waits for the busy ones' longer slices (300 and
// 700 µs did the same; giving it only to what the daemon starts changed
// neither figure much). Idle, nothing measurable changes. The share of CPU
// time stays the same (nice and cgroup weights decide that). Only the calling
// (JS) thread and what it starts later get it; a child started from a worker
// thread gets it through giveCpuSlice().
import {
  getSchedAttr,
  SCHED_BATCH,
  SCHED_FLAG_RESET_ON_FORK,
  SCHED_OTHER,
  type SchedAttr,
  setSchedAttr,
} from "../ffi/sched_attr.ts";

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
  setSlice(0, attr, wanted);
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
    setSlice(pid, getSchedAttr(pid), asked);
  } catch {
    // Gone already, or refused: it runs with the kernel's default.
  }
}

/** Sets `pid`'s slice to `ns`, keeping the rest of `attr` (its current attributes). */
function setSlice(pid: number, attr: SchedAttr, ns: bigint): void {
  // Only what sched_setattr takes back as it is: the admin's reset-on-fork.
  setSchedAttr(pid, { ...attr, flags: attr.flags & SCHED_FLAG_RESET_ON_FORK, runtime: ns });
}
