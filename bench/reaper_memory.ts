// Reaper daemon memory: RSS and anonymous memory (/proc/PID/smaps_rollup)
// idle, then after N cgroups each with one short-lived process.
//   node_modules/.bin/deno run -A bench/reaper_memory.ts [--count 300] [--v8-flags FLAGS]
//     [--launcher PATH]
// Default FLAGS: the launchers' (packaging/layout.ts), with MALLOC_ARENA_MAX=2
// as they set it; --v8-flags "" for Deno's defaults. --launcher runs the
// daemon as shipped instead (e.g. dist/cm4all-spawn-reaper after `deno task
// dist`). Each figure is read once the daemon settled (its heap trimmer had
// its quiet interval). Prints JSON and a line.
import { parseArgs } from "node:util";
import { DAEMON_V8_FLAGS } from "../packaging/layout.ts";
import { TestCgroupRoot } from "../tests/reaper/cgroup_fixture.ts";
import { TRIM_QUIET_MS } from "../shared/heap_trimmer.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "300" },
    "v8-flags": { type: "string" },
    launcher: { type: "string" },
  },
});
const flags = values["v8-flags"] ?? DAEMON_V8_FLAGS.join(",");
const MAIN = new URL("../reaper/main.ts", import.meta.url).pathname;
const SCOPE = "/bench.scope";

function memory(pid: number): { rss_kib: number; anonymous_kib: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  const field = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1]);
  return { rss_kib: field("Rss"), anonymous_kib: field("Anonymous") };
}

const cg = new TestCgroupRoot();
try {
  cg.mkdir(SCOPE);
  const program = values.launcher
    ? [values.launcher]
    : [Deno.execPath(), "run", "-A", ...(flags ? [`--v8-flags=${flags}`] : []), MAIN];
  const daemon = new Deno.Command(program[0], {
    args: [
      ...program.slice(1),
      "--cgroup-root",
      cg.path,
      "--scope",
      SCOPE,
    ],
    env: flags && !values.launcher ? { MALLOC_ARENA_MAX: "2" } : {},
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const settle = () => new Promise((r) => setTimeout(r, 2 * TRIM_QUIET_MS + 1000));
    await settle(); // started and idle
    const idle = memory(daemon.pid);
    const count = Number(values.count);
    for (let i = 0; i < count; i++) {
      const path = `${cg.abs(SCOPE)}/c${i}`;
      Deno.mkdirSync(path);
      await new Deno.Command("sh", { args: ["-c", `echo $$ > ${path}/cgroup.procs; exit 0`] })
        .output();
    }
    await settle(); // reaped
    const after = memory(daemon.pid);
    const how = values.launcher ? { launcher: values.launcher } : { v8_flags: flags };
    console.log(JSON.stringify({ ...how, idle, [`after_${count}_cgroups`]: after }));
    console.log(
      `reaper idle: RSS ${idle.rss_kib} KiB, anonymous ${idle.anonymous_kib} KiB; after ${count} ` +
        `cgroups: RSS ${after.rss_kib} KiB, anonymous ${after.anonymous_kib} KiB`,
    );
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
  }
} finally {
  await cg.cleanup();
}
