// Stats line formatting (spec §3.4) and printf-style rounding.
import { assertEquals, assertThrows } from "../assert.ts";
import { formatFixed } from "../../reaper/cgroup/printf_fixed.ts";
import { formatStatsLine, formatUtcSeconds } from "../../reaper/cgroup/stats_line.ts";
import { emptyStats } from "../../reaper/cgroup/stats.ts";
import type { CgroupStats } from "../../reaper/hook.ts";

Deno.test("formatFixed rounds the exact binary value, ties to even", () => {
  assertEquals(formatFixed(0.25, 1), "0.2"); // exact tie -> even (toFixed says 0.3)
  assertEquals(formatFixed(0.75, 1), "0.8");
  assertEquals(formatFixed(0.35, 1), "0.3"); // 0.35 is 0.34999999999999997779...
  assertEquals(formatFixed(0.45, 1), "0.5"); // 0.45 is 0.45000000000000001110...
  assertEquals(formatFixed(2.5, 0), "2");
  assertEquals(formatFixed(3.5, 0), "4");
  assertEquals(formatFixed(0.5, 0), "0");
  assertEquals(formatFixed(1.5, 0), "2");
  assertEquals(formatFixed(0, 1), "0.0");
  assertEquals(formatFixed(-0, 1), "-0.0");
  assertEquals(formatFixed(-0.25, 1), "-0.2");
  assertEquals(formatFixed(1e21, 1), "1000000000000000000000.0");
  assertEquals(formatFixed(5e-324, 3), "0.000");
  assertEquals(formatFixed(0.05, 1), "0.1"); // 0.05000000000000000277
  assertEquals(formatFixed(123.456, 2), "123.46");
  assertEquals(formatFixed(NaN, 1), "nan");
  assertEquals(formatFixed(-Infinity, 1), "-inf");
  assertThrows(() => formatFixed(1, -1), "bad digits");
});

Deno.test("formatFixed agrees with toFixed except on exact ties", () => {
  for (let i = 0; i < 2000; i++) {
    const x = (i * 7919 % 100000) / 997;
    const tie = Number.isInteger(x * 20) && !Number.isInteger(x * 10);
    if (!tie) assertEquals(formatFixed(x, 1), x.toFixed(1), `x=${x}`);
  }
});

function stats(values: Partial<CgroupStats>): CgroupStats {
  return { ...emptyStats(), ...values };
}

const BTIME = Date.UTC(2026, 10, 26, 9, 0, 0) / 1000;

Deno.test("stats line: every field, in order", () => {
  const line = formatStatsLine(
    "foo/bar",
    {
      btime: BTIME + 0.7,
      stats: stats({
        cpuTotal: 2.5,
        cpuUser: 2,
        cpuSystem: 0.25,
        memoryPeak: 3 * 1048576,
        memoryEventsHigh: 2,
        memoryEventsMax: 1,
        memoryEventsOom: 4,
        pidsPeak: 7,
        pidsForks: 30,
        pidsEventsMax: 5,
      }),
    },
    BTIME + 10.7,
  );
  assertEquals(
    line,
    "foo/bar: since=2026-11-26T09:00:00Z cpu=2.5s/2.0s/0.2s[25%] memory=3M reclaim=3 oom=4" +
      " procs=7 forks=30[3/s] procs_rejected=5",
  );
});

Deno.test("stats line: no field -> no line", () => {
  assertEquals(formatStatsLine("x", { btime: null, stats: emptyStats() }, BTIME), null);
});

Deno.test("stats line: cpu variants and the percentage", () => {
  const f = (s: Partial<CgroupStats>, btime: number | null = null, now = BTIME) =>
    formatStatsLine("x", { btime, stats: stats(s) }, now);
  assertEquals(f({ cpuTotal: 0 }), "x: cpu=0.0s");
  assertEquals(f({ cpuTotal: 1.25 }), "x: cpu=1.2s", "total only, tie to even");
  assertEquals(f({ cpuUser: 1, cpuSystem: 0.5 }), "x: cpu=1.5s/1.0s/0.5s", "t = u + s");
  assertEquals(f({ cpuUser: 1 }), "x: cpu=1.0s/1.0s/0.0s", "missing system counts as 0");
  assertEquals(f({ cpuTotal: 3, cpuSystem: 1 }), "x: cpu=3.0s/0.0s/1.0s");
  // > 100 %: several CPUs
  assertEquals(
    f({ cpuTotal: 30 }, BTIME - 10, BTIME),
    "x: since=2026-11-26T08:59:50Z cpu=30.0s[300%]",
  );
  // floor(100 * t / age) = 0 -> no bracket
  assertEquals(f({ cpuTotal: 0.001 }, BTIME - 10, BTIME), "x: since=2026-11-26T08:59:50Z cpu=0.0s");
  // btime in the future (clock skew): age <= 0 -> no percentage
  assertEquals(f({ cpuTotal: 1 }, BTIME + 5, BTIME), "x: since=2026-11-26T09:00:05Z cpu=1.0s");
});

Deno.test("stats line: memory rounds to the nearest MiB, exact halves down", () => {
  const m = (bytes: number) =>
    formatStatsLine("x", { btime: null, stats: stats({ memoryPeak: bytes }) }, BTIME);
  assertEquals(m(0), "x: memory=0M");
  assertEquals(m(524287), "x: memory=0M");
  assertEquals(m(524288), "x: memory=0M", "exact half rounds down");
  assertEquals(m(524289), "x: memory=1M");
  assertEquals(m(1048576 + 524288), "x: memory=1M");
  assertEquals(m(1048576 + 524289), "x: memory=2M");
  assertEquals(m(5 * 2 ** 32), "x: memory=20480M", "beyond 2^32");
});

Deno.test("stats line: reclaim, oom, procs and procs_rejected rules", () => {
  const f = (s: Partial<CgroupStats>) => formatStatsLine("x", { btime: null, stats: stats(s) }, 0);
  assertEquals(f({ memoryEventsHigh: 0, memoryEventsMax: 0 }), null);
  assertEquals(f({ memoryEventsHigh: 2 }), "x: reclaim=2", "missing max counts as 0");
  assertEquals(f({ memoryEventsMax: 3 }), "x: reclaim=3");
  assertEquals(f({ memoryEventsOom: 0 }), null);
  assertEquals(f({ pidsPeak: 0 }), "x: procs=0", "procs printed even when 0");
  assertEquals(f({ pidsEventsMax: 0 }), null);
  assertEquals(f({ pidsEventsMax: 1 }), "x: procs_rejected=1");
});

Deno.test("stats line: fork rates per second and per minute", () => {
  const f = (forks: number, age: number) =>
    formatStatsLine("x", { btime: BTIME - age, stats: stats({ pidsForks: forks }) }, BTIME);
  const since = (age: number) => `x: since=${formatUtcSeconds(BTIME - age)}`;
  assertEquals(f(25, 10), `${since(10)} forks=25[2/s]`, "2.5/s -> 2 (ties to even)");
  assertEquals(f(35, 10), `${since(10)} forks=35[4/s]`, "3.5/s -> 4");
  assertEquals(f(10, 10), `${since(10)} forks=10[1/s]`, "exactly 1/s");
  assertEquals(f(5, 10), `${since(10)} forks=5[30.0/m]`);
  assertEquals(f(1, 100), `${since(100)} forks=1[0.6/m]`, "0.01/s is the lower bound");
  assertEquals(f(1, 101), `${since(101)} forks=1`, "below 0.01/s: no rate");
  assertEquals(f(0, 10), `${since(10)} forks=0`);
  assertEquals(
    formatStatsLine("x", { btime: null, stats: stats({ pidsForks: 9 }) }, BTIME),
    "x: forks=9",
    "no btime: age 0, no rate",
  );
});

Deno.test("since= is UTC without fraction", () => {
  assertEquals(formatUtcSeconds(0), "1970-01-01T00:00:00Z");
  assertEquals(formatUtcSeconds(1_700_000_000.999), "2023-11-14T22:13:20Z");
});
