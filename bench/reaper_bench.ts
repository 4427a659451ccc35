// Benchmark of cm4all-spawn-reaper: N cgroups, each with one short-lived
// process, in two modes: "staggered" (processes start and exit one after the
// other) and "burst" (all N run, then one kill(-pgid) ends them at once).
// Prints JSON and a short table: cgroups reaped per second, latency from
// "empty" (cgroup.events says populated 0, seen by our own inotify watch) to
// "removed" (IN_DELETE in the scope; includes the 50 ms deletion delay),
// daemon CPU time per cgroup (/proc/PID/stat utime+stime), peak RSS
// (VmHWM) and leftovers.
//
//   deno run -A bench/reaper_bench.ts [--count N] [--mode staggered|burst|both] [--lua FILE]
import { parseArgs } from "node:util";
import { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { bind, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { close, read } from "../ffi/fd.ts";
import { kill } from "../ffi/process.ts";
import {
  IN_CREATE,
  IN_DELETE,
  IN_ISDIR,
  IN_MODIFY,
  inotifyAddWatch,
  inotifyInit,
  parseInotifyEvents,
} from "../ffi/inotify.ts";
import { sleep, subdirectories, TestCgroupRoot, waitFor } from "../tests/reaper/cgroup_fixture.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "2000" },
    mode: { type: "string", default: "both" },
    lua: { type: "string" },
  },
});
const N = Number(values.count);
const modes = values.mode === "both" ? ["staggered", "burst"] : [values.mode!];
const MAIN = new URL("../reaper/main.ts", import.meta.url).pathname;
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux
const SCOPE = "/bench.scope";

/** [user, system] CPU seconds of a process, all threads. */
function cpuSeconds(pid: number): [number, number] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(fields[11]) / CLOCK_TICKS, Number(fields[12]) / CLOCK_TICKS];
}

function statusKiB(pid: number, key: string): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(
    new RegExp(`^${key}:\\s+(\\d+)`, "m"),
  );
  return m ? Number(m[1]) : NaN;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

interface Result {
  mode: string;
  count: number;
  reapedPerSecond: number;
  spanSeconds: number;
  latencyMedianMs: number;
  latencyP99Ms: number;
  cpuMicrosPerCgroup: number;
  userMicrosPerCgroup: number;
  systemMicrosPerCgroup: number;
  daemonCpuSeconds: number;
  peakRssMiB: number;
  statsLines: number;
  leftovers: number;
}

async function runMode(mode: string): Promise<Result> {
  const cg = new TestCgroupRoot();
  const scope = cg.abs(SCOPE);
  cg.mkdir(SCOPE);
  const notifyName = `@spawn-bench-notify-${crypto.randomUUID().slice(0, 8)}`;
  const notifyFd = unixSocket(SOCK_DGRAM);
  bind(notifyFd, notifyName);
  // REAPER_BENCH_DENO_FLAGS, e.g. "--v8-flags=--prof", goes to the daemon's deno.
  const denoFlags = (Deno.env.get("REAPER_BENCH_DENO_FLAGS") ?? "").split(" ").filter((f) => f);
  const args = ["run", "-A", ...denoFlags, MAIN, "--cgroup-root", cg.path, "--scope", SCOPE];
  if (values.lua) args.push("--lua", values.lua);
  const daemon = new Deno.Command(Deno.execPath(), {
    args,
    env: { NOTIFY_SOCKET: notifyName },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let statsLines = 0;
  const stderrDone = (async () => {
    let partial = "";
    for await (const chunk of daemon.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        if (/^c\d+: /.test(line)) statsLines++;
        else if (!/running without Lua|watching|shutting down/.test(line)) console.error(line);
      }
    }
  })();

  const inotifyFd = inotifyInit();
  const loop = new EventLoop();
  const emptyAt = new Float64Array(N).fill(NaN);
  const removedAt = new Float64Array(N).fill(NaN);
  const byWd = new Map<number, number>();
  let launcher: Deno.ChildProcess | null = null;
  let loopClosed = false;
  try {
    await waitFor(() => read(notifyFd, new Uint8Array(64)) !== null, "READY=1", 30_000);
    const scopeWd = inotifyAddWatch(inotifyFd, scope, IN_CREATE | IN_DELETE);
    const buf = new Uint8Array(256 * 1024);
    loop.add(inotifyFd, EPOLLIN, () => {
      const now = performance.now();
      for (let n; (n = read(inotifyFd, buf)) !== null && n > 0;) {
        for (const e of parseInotifyEvents(buf, n)) {
          if (e.wd === scopeWd) {
            if ((e.mask & (IN_DELETE | IN_ISDIR)) === (IN_DELETE | IN_ISDIR)) {
              const i = Number(e.name.slice(1));
              if (Number.isNaN(removedAt[i])) removedAt[i] = now;
            }
            continue;
          }
          const i = byWd.get(e.wd);
          if (i === undefined || !Number.isNaN(emptyAt[i]) || !(e.mask & IN_MODIFY)) continue;
          try {
            const text = Deno.readTextFileSync(`${scope}/c${i}/cgroup.events`);
            if (/^populated 0$/m.test(text)) emptyAt[i] = now;
          } catch {
            emptyAt[i] = now; // already removed
          }
        }
      }
    });
    const running = loop.run();

    await sleep(200);
    const cpuBefore = cpuSeconds(daemon.pid); // registration counts too
    for (let i = 0; i < N; i++) {
      Deno.mkdirSync(`${scope}/c${i}`);
      byWd.set(inotifyAddWatch(inotifyFd, `${scope}/c${i}/cgroup.events`, IN_MODIFY), i);
    }
    await sleep(500); // let the daemon register them all

    const body = mode === "burst"
      ? `sh -c "echo \\$\\$ > ${scope}/c$i/cgroup.procs && exec sleep 1000" &`
      : `sh -c "echo \\$\\$ > ${scope}/c$i/cgroup.procs && exec true"`;
    const script = `i=0\nwhile [ $i -lt ${N} ]; do\n${body}\ni=$((i+1))\ndone\nwait`;
    launcher = new Deno.Command("setsid", { args: ["sh", "-c", script], stdin: "null" }).spawn();
    let launcherExited = false;
    launcher.status.then(() => launcherExited = true);
    let start: number;
    if (mode === "burst") {
      await waitFor(
        () => {
          if (launcherExited) throw new Error("the launcher script failed");
          for (let i = 0; i < N; i++) {
            if (Deno.readTextFileSync(`${scope}/c${i}/cgroup.procs`) === "") return false;
          }
          return true;
        },
        "all processes running",
        300_000,
        200,
      );
      start = performance.now();
      kill(-launcher.pid, 9);
    } else {
      start = performance.now();
    }
    await launcher.status;
    launcher = null;

    // Done when everything is removed, or nothing has moved for 10 s.
    let last = -1;
    let lastChange = Date.now();
    await waitFor(
      () => {
        const removed = removedAt.filter((t) => !Number.isNaN(t)).length;
        if (removed !== last) [last, lastChange] = [removed, Date.now()];
        return removed === N || Date.now() - lastChange > 10_000;
      },
      "removals",
      600_000,
      50,
    );
    const end = Math.max(...removedAt.filter((t) => !Number.isNaN(t)));
    const cpuAfter = cpuSeconds(daemon.pid);
    const user = cpuAfter[0] - cpuBefore[0];
    const system = cpuAfter[1] - cpuBefore[1];
    const peakRssMiB = statusKiB(daemon.pid, "VmHWM") / 1024;
    const latencies: number[] = [];
    for (let i = 0; i < N; i++) {
      if (!Number.isNaN(removedAt[i])) latencies.push(removedAt[i] - (emptyAt[i] || start));
    }
    latencies.sort((a, b) => a - b);
    const leftovers = subdirectories(scope).length;
    const span = (end - start) / 1000;
    daemon.kill("SIGTERM");
    await daemon.status;
    await stderrDone;
    loop.remove(inotifyFd);
    await loop.close();
    loopClosed = true;
    await running;
    return {
      mode,
      count: N,
      reapedPerSecond: Math.round((N - leftovers) / span),
      spanSeconds: Number(span.toFixed(3)),
      latencyMedianMs: Number(percentile(latencies, 0.5).toFixed(1)),
      latencyP99Ms: Number(percentile(latencies, 0.99).toFixed(1)),
      cpuMicrosPerCgroup: Math.round((user + system) * 1e6 / N),
      userMicrosPerCgroup: Math.round(user * 1e6 / N),
      systemMicrosPerCgroup: Math.round(system * 1e6 / N),
      daemonCpuSeconds: Number((user + system).toFixed(2)),
      peakRssMiB: Number(peakRssMiB.toFixed(1)),
      statsLines,
      leftovers,
    };
  } finally {
    if (launcher) {
      kill(-launcher.pid, 9);
      await launcher.status;
    }
    try {
      daemon.kill("SIGKILL");
      await daemon.status;
    } catch { /* already gone */ }
    if (!loopClosed) await loop.close();
    close(inotifyFd);
    close(notifyFd);
    await cg.cleanup();
  }
}

const results: Result[] = [];
for (const mode of modes) results.push(await runMode(mode));
console.log(JSON.stringify({ benchmark: "reaper", lua: values.lua ?? null, results }, null, 2));
console.log(
  "\nmode        cgroups  reaped/s  span s  latency med/p99 ms  CPU us/cgroup (usr+sys)  peak RSS MiB  leftovers",
);
for (const r of results) {
  console.log(
    `${r.mode.padEnd(10)}  ${String(r.count).padStart(7)}  ${
      String(r.reapedPerSecond).padStart(8)
    }  ${r.spanSeconds.toFixed(2).padStart(6)}  ${
      `${r.latencyMedianMs}/${r.latencyP99Ms}`.padStart(18)
    }  ${
      `${r.cpuMicrosPerCgroup} (${r.userMicrosPerCgroup}+${r.systemMicrosPerCgroup})`.padStart(23)
    }  ${r.peakRssMiB.toFixed(1).padStart(12)}  ${String(r.leftovers).padStart(9)}`,
  );
}
