// Parsing of the accounting files (spec §2 "Parsing").
import { assert, assertEquals } from "../assert.ts";
import {
  type FileResult,
  MULTI_LINE_LIMIT,
  parseKeyedLines,
  parsePopulated,
  parseSingleValue,
  parseUnsigned,
  readCgroupStats,
  showsUse,
  SINGLE_VALUE_LIMIT,
} from "../../reaper/cgroup/stats.ts";

const U32 = 0xffffffffn;
const U64 = 0xffffffffffffffffn;

Deno.test("parseUnsigned: complete unsigned decimals without overflow", () => {
  assertEquals(parseUnsigned("0", U32), 0);
  assertEquals(parseUnsigned("4294967295", U32), 4294967295);
  assertEquals(parseUnsigned("4294967296", U32), null);
  assertEquals(parseUnsigned("123456789012345", U32), null, "15 digits over u32");
  assertEquals(parseUnsigned("18446744073709551615", U64), 18446744073709551615);
  assertEquals(parseUnsigned("18446744073709551616", U64), null);
  assertEquals(parseUnsigned("", U64), null);
  assertEquals(parseUnsigned("-1", U64), null);
  assertEquals(parseUnsigned("+1", U64), null);
  assertEquals(parseUnsigned("1 ", U64), null);
  assertEquals(parseUnsigned("0x10", U64), null);
  assertEquals(parseUnsigned("max", U64), null);
});

Deno.test("single-value files: trailing whitespace stripped, whole text", () => {
  assertEquals(parseSingleValue("1048576\n", U64), 1048576);
  assertEquals(parseSingleValue("7 \t\r\n", U32), 7);
  assertEquals(parseSingleValue(" 7\n", U32), null, "leading space");
  assertEquals(parseSingleValue("max\n", U64), null);
  assertEquals(parseSingleValue("12abc\n", U64), null);
  assertEquals(parseSingleValue("\n", U64), null);
});

Deno.test("keyed files: split at the first space; by key, not substring", () => {
  const m = parseKeyedLines("usage_usec 25\nuser_usec 20 x\nnoval\n\nsystem_usec 5");
  assertEquals(m.get("usage_usec"), "25");
  assertEquals(m.get("user_usec"), "20 x");
  assertEquals(m.get("system_usec"), "5");
  assertEquals(m.has("noval"), false);
  assertEquals(parsePopulated("populated 0\nfrozen 0\n"), false);
  assertEquals(parsePopulated("populated 1\nfrozen 0\n"), true);
  assertEquals(parsePopulated("frozen 0\nunpopulated 0\npopulated 1\n"), true, "not a substring");
  assertEquals(parsePopulated("garbage"), true, "populated unless it says populated 0");
});

function reader(files: Record<string, string | Error>) {
  const calls: [string, number][] = [];
  const read = (name: string, limit: number): FileResult => {
    calls.push([name, limit]);
    const f = files[name];
    if (f === undefined) return { kind: "missing" };
    if (f instanceof Error) return { kind: "error", message: f.message };
    return { kind: "ok", text: f };
  };
  return { read, calls };
}

Deno.test("readCgroupStats reads every file with its limit and converts units", () => {
  const r = reader({
    "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnice_usec 0\n",
    "memory.peak": "6442450944\n",
    "memory.events": "low 0\nhigh 3\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
    "pids.peak": "12\n",
    "pids.forks": "40\n",
    "pids.events": "max 2\nmax.imposed 0\n",
  });
  const { stats, problems } = readCgroupStats(r.read);
  assertEquals(problems, []);
  assertEquals(stats, {
    cpuTotal: 2.5,
    cpuUser: 2,
    cpuSystem: 0.5,
    memoryPeak: 6442450944,
    memoryEventsHigh: 3,
    memoryEventsMax: 4,
    memoryEventsOom: 1,
    pidsPeak: 12,
    pidsForks: 40,
    pidsEventsMax: 2,
  });
  assertEquals(r.calls, [
    ["cpu.stat", MULTI_LINE_LIMIT],
    ["memory.peak", SINGLE_VALUE_LIMIT],
    ["memory.events", MULTI_LINE_LIMIT],
    ["pids.peak", SINGLE_VALUE_LIMIT],
    ["pids.forks", SINGLE_VALUE_LIMIT],
    ["pids.events", MULTI_LINE_LIMIT],
  ]);
});

Deno.test("missing files are silent; malformed ones give null and one problem each", () => {
  const quiet = readCgroupStats(reader({ "cpu.stat": "usage_usec 5\n" }).read);
  assertEquals(quiet.problems, []);
  assertEquals(quiet.stats.cpuTotal, 0.000005);
  assertEquals(quiet.stats.cpuUser, null, "line missing");
  assertEquals(quiet.stats.memoryPeak, null);

  const bad = readCgroupStats(
    reader({
      "cpu.stat": "usage_usec x\nuser_usec 1\nsystem_usec -3\n",
      "memory.peak": "max\n",
      "memory.events": "high 99999999999\nmax 1\n",
      "pids.peak": "7\n",
    }).read,
  );
  assertEquals(bad.stats.cpuTotal, null);
  assertEquals(bad.stats.cpuUser, 0.000001);
  assertEquals(bad.stats.cpuSystem, null);
  assertEquals(bad.stats.memoryPeak, null);
  assertEquals(bad.stats.memoryEventsHigh, null, "u32 overflow");
  assertEquals(bad.stats.memoryEventsMax, 1);
  assertEquals(bad.stats.pidsPeak, 7);
  assertEquals(bad.problems.length, 3, bad.problems.join(" | "));
  assert(bad.problems[0].startsWith("malformed cpu.stat: usage_usec"));
  assert(bad.problems[1].startsWith("malformed memory.peak"));
  assert(bad.problems[2].startsWith("malformed memory.events: high"));
});

Deno.test("a read error is reported for cpu.stat only", () => {
  const r = readCgroupStats(
    reader({ "cpu.stat": new Error("EIO"), "memory.peak": new Error("EIO") }).read,
  );
  assertEquals(r.problems, ["failed to read cpu.stat: EIO"]);
  assertEquals(r.stats.cpuTotal, null);
});

Deno.test("evidence of use: usage_usec > 0 or pids.forks > 0", () => {
  assertEquals(showsUse("usage_usec 0\nuser_usec 0\n", null), false);
  assertEquals(showsUse("usage_usec 17\n", null), true);
  assertEquals(showsUse("user_usec 17\n", null), false, "by key");
  assertEquals(showsUse(null, "0\n"), false);
  assertEquals(showsUse(null, "3\n"), true);
  assertEquals(showsUse(null, null), false);
});
