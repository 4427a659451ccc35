// The stats line written for every reaped cgroup (spec §3.4). Pure.
import type { ReleasedCgroup } from "../hook.ts";
import { formatFixed } from "./printf_fixed.ts";

const MIB = 1048576;

/** "YYYY-MM-DDTHH:MM:SSZ" (UTC) of seconds since the epoch. */
export function formatUtcSeconds(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * "<suffix>:<fields>" without the newline, or null when no field applies
 * (then no line is written; the hook is still called). `now` is seconds
 * since the epoch (the snapshot time).
 */
export function formatStatsLine(
  suffix: string,
  cgroup: Pick<ReleasedCgroup, "btime" | "stats">,
  now: number,
): string | null {
  const s = cgroup.stats;
  let fields = "";
  let age = 0;

  if (cgroup.btime !== null) {
    fields += ` since=${formatUtcSeconds(cgroup.btime)}`;
    age = now - cgroup.btime;
  }

  let cpu: number | null = null;
  if (s.cpuUser !== null || s.cpuSystem !== null) {
    const u = Math.max(s.cpuUser ?? 0, 0);
    const sys = Math.max(s.cpuSystem ?? 0, 0);
    cpu = s.cpuTotal ?? u + sys;
    fields += ` cpu=${formatFixed(cpu, 1)}s/${formatFixed(u, 1)}s/${formatFixed(sys, 1)}s`;
  } else if (s.cpuTotal !== null) {
    cpu = s.cpuTotal;
    fields += ` cpu=${formatFixed(cpu, 1)}s`;
  }
  if (cpu !== null && age > 0) {
    const p = Math.floor(100 * cpu / age);
    if (p > 0) fields += `[${p}%]`;
  }

  if (s.memoryPeak !== null) {
    // Nearest MiB, exact halves down; dividing by a power of two is exact.
    fields += ` memory=${Math.floor((s.memoryPeak + (MIB / 2 - 1)) / MIB)}M`;
  }

  const reclaim = (s.memoryEventsHigh ?? 0) + (s.memoryEventsMax ?? 0);
  if (reclaim > 0) fields += ` reclaim=${reclaim}`;

  if (s.memoryEventsOom !== null && s.memoryEventsOom > 0) fields += ` oom=${s.memoryEventsOom}`;

  if (s.pidsPeak !== null) fields += ` procs=${s.pidsPeak}`;

  if (s.pidsForks !== null) {
    fields += ` forks=${s.pidsForks}`;
    if (age > 0) {
      const r = s.pidsForks / age;
      if (r >= 1) fields += `[${formatFixed(r, 0)}/s]`;
      else if (r >= 0.01) fields += `[${formatFixed(60 * r, 1)}/m]`;
    }
  }

  if (s.pidsEventsMax !== null && s.pidsEventsMax > 0) {
    fields += ` procs_rejected=${s.pidsEventsMax}`;
  }

  return fields === "" ? null : `${suffix}:${fields}`;
}
