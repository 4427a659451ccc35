// --simulate CGROUP: one reap of an existing cgroup exactly as the daemon
// would do it (stats line, hook call), without deleting anything.
import { errorMessage, log, type Priority } from "../shared/log.ts";
import { isBelow, statsSuffix } from "./cgroup/path.ts";
import { closeSnapshot, openRoot, snapshotCgroup } from "./cgroup/snapshot.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { printable, printableText } from "./printable.ts";
import type { ReaperHook } from "./hook.ts";
import { formatStatsLine } from "./cgroup/stats_line.ts";

/** The deepest scope containing path, or null. */
export function scopeOf(path: string, scopes: readonly string[]): string | null {
  let best: string | null = null;
  for (const scope of scopes) {
    if (isBelow(path, scope) && (best === null || scope.length > best.length)) best = scope;
  }
  return best;
}

export interface SimulateOptions {
  root: string;
  /** A byte string (ffi/byte_string.ts). */
  path: string;
  scopes: readonly string[];
  hook: ReaperHook;
  log?: (priority: Priority, message: string) => void;
}

/** Returns the hook's verdict: true if the handler finished, false if it raised. */
export async function simulateRelease(options: SimulateOptions): Promise<boolean> {
  const write = options.log ?? log;
  const rootFd = openRoot(options.root);
  let snapshot;
  try {
    snapshot = snapshotCgroup(rootFd, options.path);
  } finally {
    closeQuietly(rootFd);
  }
  const shown = printable(options.path);
  try {
    for (const problem of snapshot.problems) {
      write("error", `'${shown}': ${printableText(problem)}`);
    }
    const { cgroup } = snapshot;
    const suffix = printable(statsSuffix(options.path, scopeOf(options.path, options.scopes)));
    const line = formatStatsLine(suffix, cgroup, cgroup.takenAt);
    if (line !== null) write("info", line);
    try {
      return await options.hook.cgroupReleased(cgroup);
    } catch (error) {
      write("error", `cgroup_released('${shown}'): ${printableText(errorMessage(error))}`);
      return false;
    }
  } finally {
    closeSnapshot(snapshot);
  }
}
