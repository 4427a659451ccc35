// Benchmark of cm4all-spawn-reaper: N cgroups, each with one short-lived
// process, in two modes: "staggered" (processes start and exit one after the
// other, so the rate is bounded by how fast the shell starts processes) and
// "burst" (all N run, then one kill(-pgid) ends them at once: the reaper's
// own throughput). Each mode gets a fresh daemon; a warm-up round of
// --warmup cgroups (same mode) runs first, so that the figures are those of
// a long-running daemon, not of V8 compiling the code (reported separately).
//
// Prints JSON and a short table: cgroups reaped per second, latency from
// "empty" (cgroup.events says populated 0, seen by our own inotify watch) to
// "removed" (IN_DELETE in the scope; includes the 50 ms deletion delay),
// daemon CPU time per cgroup (/proc/PID/stat utime+stime of the daemon only,
// all its threads; in burst mode split into "reg" = mkdir and the process
// moving in seen, and "reap" = from the kill to the last rmdir), peak RSS
// (VmHWM) and leftovers.
//
// Mode "floor" runs no daemon: this process does the least a reaper must do
// per cgroup of a burst (read cgroup.events, read cpu.stat, rmdir; no
// watches, no JS logic) and reports its own CPU per cgroup, a lower bound
// set by the kernel and the FFI.
//
//   deno run -A bench/reaper_bench.ts [--count N] [--warmup N]
//     [--mode staggered|burst|both|floor] [--lua FILE]
import { parseArgs } from "node:util";
import process from "node:process";
import { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { bind, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { close, closeQuietly, O_RDONLY, openatAllowing, pread, read } from "../ffi/fd.ts";
import { AT_FDCWD, rmdir } from "../ffi/fs.ts";
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
    warmup: { type: "string", default: "500" },
    mode: { type: "string", default: "both" },
    lua: { type: "string" },
  },
});
const N = Number(values.count);
const WARMUP = Number(values.warmup);
if (!Number.isSafeInteger(N) || N < 1) throw new Error(`--count wants a positive integer`);
if (!Number.isSafeInteger(WARMUP) || WARMUP < 0) throw new Error(`--warmup wants an integer >= 0`);
const modes = values.mode === "both" ? ["staggered", "burst"] : [values.mode!];
for (const mode of modes) {
  if (!["staggered", "burst", "floor"].includes(mode)) throw new Error(`unknown --mode ${mode}`);
}
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

const micros = (seconds: number, n: number) => Math.round(seconds * 1e6 / n);

interface Result {
  mode: string;
  count: number;
  warmup: number;
  reapedPerSecond: number;
  /** What bounds reapedPerSecond: the reaper (burst) or process start-up (staggered). */
  boundBy: "reaper" | "process start-up" | "kernel floor";
  /** Processes the launcher started per second (staggered), else null. */
  startedPerSecond: number | null;
  spanSeconds: number;
  latencyMedianMs: number | null;
  latencyP99Ms: number | null;
  cpuMicrosPerCgroup: number;
  userMicrosPerCgroup: number;
  systemMicrosPerCgroup: number;
  registrationMicrosPerCgroup: number | null;
  reapMicrosPerCgroup: number | null;
  /** The warm-up round's CPU per cgroup (includes V8 compiling the code). */
  warmupMicrosPerCgroup: number | null;
  daemonCpuSeconds: number;
  peakRssMiB: number | null;
  statsLines: number | null;
  leftovers: number;
}

/** Starts `count` processes in prefix0..: staggered one after the other, or all (burst). */
function launch(scope: string, prefix: string, count: number, mode: string): Deno.ChildProcess {
  const body = mode === "burst"
    ? `sh -c "echo \\$\\$ > ${scope}/${prefix}$i/cgroup.procs && exec sleep 1000" &`
    : `sh -c "echo \\$\\$ > ${scope}/${prefix}$i/cgroup.procs && exec true"`;
  const script = `i=0\nwhile [ $i -lt ${count} ]; do\n${body}\ni=$((i+1))\ndone\nwait`;
  return new Deno.Command("setsid", { args: ["sh", "-c", script], stdin: "null" }).spawn();
}

/** Waits until every process of a burst runs in its cgroup. */
async function allRunning(
  scope: string,
  prefix: string,
  count: number,
  exited: () => boolean,
): Promise<void> {
  await waitFor(
    () => {
      if (exited()) throw new Error("the launcher script failed");
      for (let i = 0; i < count; i++) {
        if (Deno.readTextFileSync(`${scope}/${prefix}${i}/cgroup.procs`) === "") return false;
      }
      return true;
    },
    "all processes running",
    300_000,
    200,
  );
}

interface Round {
  prefix: string;
  emptyAt: Float64Array;
  removedAt: Float64Array;
  byWd: Map<number, number>;
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
        else if (/^w\d+: /.test(line)) continue; // warm-up round
        else if (!/running without Lua|watching|shutting down/.test(line)) console.error(line);
      }
    }
  })();

  const inotifyFd = inotifyInit();
  const loop = new EventLoop();
  let round: Round | null = null;
  let launcher: Deno.ChildProcess | null = null;
  let loopClosed = false;

  /** One round: mkdir, let the daemon register, run and end the processes, wait for removals. */
  const runRound = async (prefix: string, count: number) => {
    const r: Round = {
      prefix,
      emptyAt: new Float64Array(count).fill(NaN),
      removedAt: new Float64Array(count).fill(NaN),
      byWd: new Map(),
    };
    round = r;
    const cpu0 = cpuSeconds(daemon.pid);
    for (let i = 0; i < count; i++) {
      Deno.mkdirSync(`${scope}/${prefix}${i}`);
      r.byWd.set(inotifyAddWatch(inotifyFd, `${scope}/${prefix}${i}/cgroup.events`, IN_MODIFY), i);
    }
    await sleep(500); // let the daemon register them all
    const cpu1 = cpuSeconds(daemon.pid);
    launcher = launch(scope, prefix, count, mode);
    let launcherExited = false;
    launcher.status.then(() => launcherExited = true);
    const launchedAt = performance.now();
    if (mode === "burst") await allRunning(scope, prefix, count, () => launcherExited);
    // The burst's processes sleep, idle: registration CPU is measured up to here.
    const cpu2 = mode === "burst" ? cpuSeconds(daemon.pid) : cpu1;
    const start = performance.now();
    if (mode === "burst") kill(-launcher.pid, 9);
    await launcher.status;
    const launcherSeconds = (performance.now() - launchedAt) / 1000;
    launcher = null;

    // Done when everything is removed, or nothing has moved for 10 s.
    let last = -1;
    let lastChange = Date.now();
    await waitFor(
      () => {
        const removed = r.removedAt.filter((t) => !Number.isNaN(t)).length;
        if (removed !== last) [last, lastChange] = [removed, Date.now()];
        return removed === count || Date.now() - lastChange > 10_000;
      },
      "removals",
      600_000,
      50,
    );
    const cpu3 = cpuSeconds(daemon.pid);
    const removed = [...r.removedAt].filter((t) => !Number.isNaN(t));
    const end = removed.length > 0 ? Math.max(...removed) : start;
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      if (!Number.isNaN(r.removedAt[i])) latencies.push(r.removedAt[i] - (r.emptyAt[i] || start));
    }
    latencies.sort((a, b) => a - b);
    const leftovers = subdirectories(scope).filter((name) => name.startsWith(prefix)).length;
    round = null;
    return {
      user: cpu3[0] - cpu0[0],
      system: cpu3[1] - cpu0[1],
      registration: cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1] + cpu2[0] + cpu2[1] - cpu1[0] - cpu1[1],
      reap: cpu3[0] + cpu3[1] - cpu2[0] - cpu2[1],
      span: (end - start) / 1000,
      launcherSeconds,
      latencies,
      leftovers,
    };
  };

  try {
    await waitFor(() => read(notifyFd, new Uint8Array(64)) !== null, "READY=1", 30_000);
    const scopeWd = inotifyAddWatch(inotifyFd, scope, IN_CREATE | IN_DELETE);
    const buf = new Uint8Array(256 * 1024);
    loop.add(inotifyFd, EPOLLIN, () => {
      const now = performance.now();
      for (let n; (n = read(inotifyFd, buf)) !== null && n > 0;) {
        for (const e of parseInotifyEvents(buf, n)) {
          const r: Round | null = round;
          if (!r) continue;
          if (e.wd === scopeWd) {
            if (
              (e.mask & (IN_DELETE | IN_ISDIR)) === (IN_DELETE | IN_ISDIR) &&
              e.name.startsWith(r.prefix)
            ) {
              const i = Number(e.name.slice(r.prefix.length));
              if (Number.isNaN(r.removedAt[i])) r.removedAt[i] = now;
            }
            continue;
          }
          const i = r.byWd.get(e.wd);
          if (i === undefined || !Number.isNaN(r.emptyAt[i]) || !(e.mask & IN_MODIFY)) continue;
          try {
            const text = Deno.readTextFileSync(`${scope}/${r.prefix}${i}/cgroup.events`);
            if (/^populated 0$/m.test(text)) r.emptyAt[i] = now;
          } catch {
            r.emptyAt[i] = now; // already removed
          }
        }
      }
    });
    const running = loop.run();

    await sleep(200);
    let warmupMicros: number | null = null;
    if (WARMUP > 0) {
      const w = await runRound("w", WARMUP);
      warmupMicros = micros(w.user + w.system, WARMUP);
      if (w.leftovers > 0) console.error(`warm-up round: ${w.leftovers} leftovers`);
    }
    const m = await runRound("c", N);
    const peakRssMiB = statusKiB(daemon.pid, "VmHWM") / 1024;
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
      warmup: WARMUP,
      reapedPerSecond: Math.round((N - m.leftovers) / m.span),
      boundBy: mode === "burst" ? "reaper" : "process start-up",
      startedPerSecond: mode === "burst" ? null : Math.round(N / m.launcherSeconds),
      spanSeconds: Number(m.span.toFixed(3)),
      latencyMedianMs: Number(percentile(m.latencies, 0.5).toFixed(1)),
      latencyP99Ms: Number(percentile(m.latencies, 0.99).toFixed(1)),
      cpuMicrosPerCgroup: micros(m.user + m.system, N),
      userMicrosPerCgroup: micros(m.user, N),
      systemMicrosPerCgroup: micros(m.system, N),
      registrationMicrosPerCgroup: mode === "burst" ? micros(m.registration, N) : null,
      reapMicrosPerCgroup: mode === "burst" ? micros(m.reap, N) : null,
      warmupMicrosPerCgroup: warmupMicros,
      daemonCpuSeconds: Number((m.user + m.system).toFixed(2)),
      peakRssMiB: Number(peakRssMiB.toFixed(1)),
      statsLines,
      leftovers: m.leftovers,
    };
  } finally {
    const l = launcher as Deno.ChildProcess | null;
    if (l) {
      kill(-l.pid, 9);
      await l.status;
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

/** The kernel floor: this process reads and removes a burst's cgroups itself. */
async function runFloor(): Promise<Result> {
  const cg = new TestCgroupRoot();
  const scope = cg.abs(SCOPE);
  cg.mkdir(SCOPE);
  let launcher: Deno.ChildProcess | null = null;
  try {
    const events: number[] = [];
    for (let i = 0; i < N; i++) {
      Deno.mkdirSync(`${scope}/c${i}`);
      events.push(openatAllowing(AT_FDCWD, `${scope}/c${i}/cgroup.events`, O_RDONLY, []));
    }
    const l = launch(scope, "c", N, "burst");
    launcher = l;
    let exited = false;
    l.status.then(() => exited = true);
    await allRunning(scope, "c", N, () => exited);
    kill(-l.pid, 9);
    await l.status;
    launcher = null;
    const buf = new Uint8Array(4096);
    const text = new TextDecoder();
    const empty = (i: number) =>
      text.decode(buf.subarray(0, pread(events[i], buf))).includes("populated 0");
    await waitFor(() => events.every((_, i) => empty(i)), "all empty", 60_000);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let removed = 0;
    for (let i = 0; i < N; i++) {
      empty(i);
      const fd = openatAllowing(AT_FDCWD, `${scope}/c${i}/cpu.stat`, O_RDONLY, []);
      text.decode(buf.subarray(0, read(fd, buf) ?? 0));
      closeQuietly(fd);
      if (rmdir(`${scope}/c${i}`, [16]) === 0) removed++;
      closeQuietly(events[i]);
    }
    const c1 = process.cpuUsage(c0);
    const span = (performance.now() - t0) / 1000;
    const leftovers = subdirectories(scope).length;
    return {
      mode: "floor",
      count: N,
      warmup: 0,
      reapedPerSecond: Math.round(removed / span),
      boundBy: "kernel floor",
      startedPerSecond: null,
      spanSeconds: Number(span.toFixed(3)),
      latencyMedianMs: null,
      latencyP99Ms: null,
      cpuMicrosPerCgroup: micros((c1.user + c1.system) / 1e6, N),
      userMicrosPerCgroup: micros(c1.user / 1e6, N),
      systemMicrosPerCgroup: micros(c1.system / 1e6, N),
      registrationMicrosPerCgroup: null,
      reapMicrosPerCgroup: micros((c1.user + c1.system) / 1e6, N),
      warmupMicrosPerCgroup: null,
      daemonCpuSeconds: Number(((c1.user + c1.system) / 1e6).toFixed(2)),
      peakRssMiB: null,
      statsLines: null,
      leftovers,
    };
  } finally {
    const l = launcher as Deno.ChildProcess | null;
    if (l) {
      kill(-l.pid, 9);
      await l.status;
    }
    await cg.cleanup();
  }
}

const results: Result[] = [];
for (const mode of modes) results.push(mode === "floor" ? await runFloor() : await runMode(mode));
console.log(JSON.stringify({ benchmark: "reaper", lua: values.lua ?? null, results }, null, 2));
console.log(
  "\nmode        cgroups  reaped/s (bound)            latency med/p99 ms  " +
    "CPU us/cgroup (usr+sys)  reg/reap us  warm-up us  RSS MiB  leftovers",
);
const show = (v: number | null) => v === null ? "-" : String(v);
for (const r of results) {
  const rate = r.startedPerSecond === null
    ? `${r.reapedPerSecond} (${r.boundBy})`
    : `${r.reapedPerSecond} (start-up ${r.startedPerSecond}/s)`;
  console.log(
    [
      r.mode.padEnd(10),
      String(r.count).padStart(7),
      rate.padEnd(26),
      `${show(r.latencyMedianMs)}/${show(r.latencyP99Ms)}`.padStart(19),
      `${r.cpuMicrosPerCgroup} (${r.userMicrosPerCgroup}+${r.systemMicrosPerCgroup})`.padStart(23),
      `${show(r.registrationMicrosPerCgroup)}/${show(r.reapMicrosPerCgroup)}`.padStart(11),
      show(r.warmupMicrosPerCgroup).padStart(10),
      show(r.peakRssMiB).padStart(7),
      String(r.leftovers).padStart(9),
    ].join("  "),
  );
}
