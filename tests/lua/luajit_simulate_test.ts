// Issue 10 item 3: the cgroup object's numeric attributes, end to end through
// `reaper --simulate`, compute what LuaJIT computes. The accounting files are
// a fake tree (this kernel has no memory or pids controller, and cgroupfs no
// btime); its directories are ordinary ones, whose btime statx reports. The
// oracle is real LuaJIT running the same handler on a table holding the same
// values (btime as the reaper reads it: statx, whole seconds).
import { assertEquals } from "../assert.ts";
import { runReaper } from "../reaper/reaper_process.ts";
import { runLuaJit } from "./luajit_oracle.ts";
import { statxBirthTime } from "../../ffi/fs.ts";
import { close, O_DIRECTORY, O_RDONLY, open } from "../../ffi/fd.ts";

const HANDLER = `
function cgroup_released(c)
  local peak, btime = c.memory_peak, c.btime
  print("peak", peak, peak + 1, peak * 2, peak / 2^20, peak % 1000, -peak)
  print("peak fmt", string.format("%d %x %.3f %e %g %s", peak, peak, peak, peak, peak, peak))
  print("peak cmp", peak > 2^31, peak > 2^32, peak == 5000000000, math.floor(peak / 1e9))
  print("max events", c.memory_events_max, c.memory_events_max + 1, c.memory_events_high * 3)
  print("pids", c.pids_peak, c.pids_events_max * 2^31)
  print("cpu", c.cpu_total, c.cpu_user, c.cpu_system, c.cpu_total * 1e6)
  print("btime ms", btime * 1000 + 250, string.format("%d", btime * 1000), (btime * 1000) % 7)
  print("btime date", os.date("!%Y-%m-%d %H:%M:%S %j", btime), os.date("!*t", btime).yday)
  local usage = {cpu = 0, mem = 0}
  for i = 1, 50 do
    usage.cpu = usage.cpu + c.cpu_total * 1e6 + 1500000000 + i * 7
    usage.mem = math.max(usage.mem, peak + i * 1000)
  end
  print("usage", usage.cpu, usage.mem, string.format("%.2f", usage.cpu / 3600))
  local n = 0
  for i = peak - 10, peak + 10, 5 do n = n + 1 end
  print("loop", n)
end
`;

const FILES: Record<string, string> = {
  "cpu.stat": "usage_usec 3000000123\nuser_usec 2147483648\nsystem_usec 852516475\n",
  "memory.peak": "5000000000\n",
  "memory.events": "low 0\nhigh 4294967295\nmax 4294967295\noom 1\noom_kill 1\n",
  "pids.peak": "4294967295\n",
  "pids.events": "max 3000000000\n",
};

Deno.test("--simulate: memory_peak above 2^32, u32 counters, btime arithmetic match LuaJIT", async () => {
  const root = await Deno.makeTempDir({ prefix: "lua-simulate-" });
  try {
    const dir = `${root}/s/sim`;
    await Deno.mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(FILES)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await Deno.writeTextFile(`${root}/reaper.lua`, HANDLER);
    const r = await runReaper([
      "--cgroup-root",
      root,
      "--scope",
      "/s",
      "--lua",
      `${root}/reaper.lua`,
      "--simulate",
      "/s/sim",
    ]);
    assertEquals(r.code, 0, r.stderr);

    const fd = open(dir, O_RDONLY | O_DIRECTORY);
    let btime: number | null;
    try {
      btime = statxBirthTime(fd).btime;
    } finally {
      close(fd);
    }
    if (btime === null) throw new Error(`${root}: the file system reports no btime`);
    const oracle = `${HANDLER}
cgroup_released({memory_peak = 5000000000, btime = ${Math.trunc(btime)},
  memory_events_high = 4294967295, memory_events_max = 4294967295, pids_peak = 4294967295,
  pids_events_max = 3000000000, cpu_total = 3000.000123, cpu_user = 2147.483648,
  cpu_system = 852.516475})
`;
    const theirs = await runLuaJit(new TextEncoder().encode(oracle));
    assertEquals(theirs.error, "");
    const expected = theirs.output.trimEnd().split("\n");
    assertEquals(expected.length, 10);
    assertEquals(r.stdout.trimEnd().split("\n"), expected);
    // and the figures are the exact ones, not 32-bit wrapped
    assertEquals(
      expected[0],
      "peak\t5000000000\t5000000001\t10000000000\t4768.3715820313\t0\t-5000000000",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
