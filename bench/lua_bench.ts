// Benchmark of the reaper's Lua hook alone: CPU time per cgroup_released
// call with synthetic snapshots (no daemon, no cgroups), for a no-op handler,
// a handler reading every attribute (target: <= 300 us per cgroup), the same
// plus three xattr reads through a real directory fd, and a handler that
// yields and is resumed by the next one; "read_all_cold" is the first 2,000
// calls in a fresh process (what a daemon sees before V8 has warmed up).
// Also the load time of a script and the RSS after the run.
//
//   deno run -A --v8-flags=--expose-gc bench/lua_bench.ts [--count N]
import { parseArgs } from "node:util";
import process from "node:process";
import { loadLuaHook } from "../reaper/lua/lua_hook.ts";
import type { ReaperHook, ReleasedCgroup } from "../reaper/hook.ts";
import { close, O_DIRECTORY, O_RDONLY, open } from "../ffi/fd.ts";
import { fsetxattr } from "../ffi/fs.ts";

const { values } = parseArgs({ options: { count: { type: "string", default: "10000" } } });
const N = Number(values.count);
const SCOPE = "/system.slice/system-cm4all.slice/bp-spawn.scope";

const READ_ALL = `
local keys = {"path", "btime", "age", "cpu_total", "cpu_user", "cpu_system", "memory_peak",
  "memory_events_high", "memory_events_max", "memory_events_oom", "pids_peak", "pids_forks",
  "pids_events_max"}
local sink
function cgroup_released(c)
  local t = {}
  for i = 1, #keys do t[i] = c[keys[i]] end
  local p = c.parent
  sink = p.path .. tostring(t[4]) .. tostring(t[7])
end`;

const SCRIPTS: Record<string, string> = {
  noop: "function cgroup_released(c) end",
  read_all: READ_ALL,
  read_all_xattr: READ_ALL.replace(
    "local p = c.parent",
    "local x = c.xattr; local a, b, m = x.account, x['user.site'], x.missing\n  local p = c.parent",
  ),
  // Number model and stdlib (issue 10): arithmetic, string.format, os.date,
  // pattern matching (charged to the budget) on every call.
  accounting: `
local totals = {}
function cgroup_released(c)
  local account = c.path:match("([^/]+)$"):gsub("%-%d+$", "")
  local t = totals[account]
  if not t then t = {cpu = 0, mem = 0, n = 0} totals[account] = t end
  local cpu = c.cpu_total * 1e6
  for i = 1, 20 do t.cpu = t.cpu + cpu + i * 7 end
  t.mem = math.max(t.mem, c.memory_peak or 0)
  t.n = t.n + 1
  sink = string.format("%s cpu=%.3fs mem=%.0f n=%5d age=%.1f %s", account, t.cpu / 1e6, t.mem,
    t.n, c.age, os.date("!%Y-%m-%d %H:%M:%S", math.floor(c.btime)))
end`,
  arithmetic: `
function cgroup_released(c)
  local s, x = 0, c.memory_peak
  for i = 1, 1000 do
    s = s + (x * i) % 1000003 + i / 3 - math.floor(i / 7)
    if s > 1e15 then s = s - 1e15 end
  end
  sink = s
end`,
  yield_resume: `
local parked
function cgroup_released(c)
  local p = parked
  parked = coroutine.running()
  if p then coroutine.resume(p) end
  local _ = c.path, c.cpu_total, c.memory_peak
  coroutine.yield()
end`,
};

function snapshot(i: number, dirFd: number | null): ReleasedCgroup {
  const now = Date.now() / 1000;
  return {
    path: `${SCOPE}/job-${i}`,
    dirFd,
    btime: now - 30.5,
    takenAt: now,
    stats: {
      cpuTotal: 1.25,
      cpuUser: 1,
      cpuSystem: 0.25,
      memoryPeak: 3_000_000_000 + i,
      memoryEventsHigh: 0,
      memoryEventsMax: 2,
      memoryEventsOom: 0,
      pidsPeak: 12,
      pidsForks: 40,
      pidsEventsMax: 0,
    },
  };
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

interface Row {
  script: string;
  count: number;
  load_ms: number;
  cpu_us_per_cgroup: number;
  wall_us_per_cgroup: number;
}

const dir = await Deno.makeTempDir({ prefix: "lua-bench-" });
const rows: Row[] = [];
try {
  const xattrDir = `${dir}/cg`;
  await Deno.mkdir(xattrDir);
  const fd = open(xattrDir, O_RDONLY | O_DIRECTORY);
  fsetxattr(fd, "user.account", new TextEncoder().encode("acct-42"));
  fsetxattr(fd, "user.site", new TextEncoder().encode("site"));
  try {
    // Cold: the first calls in a fresh process, as a daemon sees them (JIT not warm).
    {
      const path = `${dir}/cold.lua`;
      await Deno.writeTextFile(path, SCRIPTS.read_all);
      const t0 = performance.now();
      const hook = await loadLuaHook({ scriptPath: path, cgroupRoot: dir });
      const loadMs = performance.now() - t0;
      const cold = Math.min(N, 2000);
      const cpu0 = cpuMicros();
      const wall0 = performance.now();
      for (let i = 0; i < cold; i++) await hook.cgroupReleased(snapshot(i, null));
      const wall = (performance.now() - wall0) * 1000;
      const cpu = cpuMicros() - cpu0;
      await hook.close();
      rows.push({
        script: "read_all_cold",
        count: cold,
        load_ms: Math.round(loadMs * 10) / 10,
        cpu_us_per_cgroup: Math.round((cpu / cold) * 10) / 10,
        wall_us_per_cgroup: Math.round((wall / cold) * 10) / 10,
      });
    }
    for (const [name, source] of Object.entries(SCRIPTS)) {
      const path = `${dir}/${name}.lua`;
      await Deno.writeTextFile(path, source);
      const t0 = performance.now();
      const hook: ReaperHook = await loadLuaHook({ scriptPath: path, cgroupRoot: dir });
      const loadMs = performance.now() - t0;
      const dirFd = name === "read_all_xattr" ? fd : null;
      const warmup: Promise<boolean>[] = [];
      for (let i = 0; i < 500; i++) warmup.push(hook.cgroupReleased(snapshot(i, dirFd)));
      const cpu0 = cpuMicros();
      const wall0 = performance.now();
      const pending: Promise<boolean>[] = [];
      for (let i = 0; i < N; i++) pending.push(hook.cgroupReleased(snapshot(i, dirFd)));
      const wall = (performance.now() - wall0) * 1000;
      const cpu = cpuMicros() - cpu0;
      await hook.close();
      await Promise.all([...warmup, ...pending]);
      rows.push({
        script: name,
        count: N,
        load_ms: Math.round(loadMs * 10) / 10,
        cpu_us_per_cgroup: Math.round((cpu / N) * 10) / 10,
        wall_us_per_cgroup: Math.round((wall / N) * 10) / 10,
      });
    }
  } finally {
    close(fd);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

// Memory held by handlers parked with coroutine.yield() (many may be suspended at once).
let parkedKiB = 0;
{
  const parkDir = await Deno.makeTempDir({ prefix: "lua-bench-" });
  try {
    const path = `${parkDir}/park.lua`;
    await Deno.writeTextFile(
      path,
      "function cgroup_released(c) local p = c.path; coroutine.yield() end",
    );
    const hook = await loadLuaHook({ scriptPath: path, cgroupRoot: parkDir });
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = Deno.memoryUsage().heapUsed;
    const parked: Promise<boolean>[] = [];
    for (let i = 0; i < N; i++) parked.push(hook.cgroupReleased(snapshot(i, null)));
    gc?.();
    parkedKiB = Math.round(((Deno.memoryUsage().heapUsed - before) / N / 1024) * 100) / 100;
    await hook.close();
    await Promise.all(parked);
  } finally {
    await Deno.remove(parkDir, { recursive: true });
  }
}

const rssMiB = Math.round(Deno.memoryUsage().rss / 1048576);
console.log(JSON.stringify({
  benchmark: "lua_hook",
  count: N,
  rss_mib: rssMiB,
  parked_handler_kib: parkedKiB,
  results: rows,
}));
console.log("");
console.log("script            count  cpu us/cgroup  wall us/cgroup  load ms");
for (const r of rows) {
  console.log(
    `${r.script.padEnd(18)}${String(r.count).padStart(5)}${
      String(r.cpu_us_per_cgroup).padStart(15)
    }${String(r.wall_us_per_cgroup).padStart(16)}${String(r.load_ms).padStart(9)}`,
  );
}
console.log(`heap per parked handler: ${parkedKiB} KiB (${N} parked at once)`);
console.log(`RSS after the run: ${rssMiB} MiB (target: read_all <= 300 us/cgroup)`);
