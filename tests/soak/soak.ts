// Soak test (not in the default suite): 50 concurrent clients create and
// release names against the accessory while a cgroup storm runs against the
// reaper; at the end, after a settle period, both daemons' RSS, fd count and
// child processes are compared with their values at the start.
//
//   node_modules/.bin/deno run -A tests/soak/soak.ts --minutes 10 [--clients 50] [--settle 20]
//
// Prints JSON and a short table; exits 1 if an fd or a child process leaked.
import { parseArgs } from "node:util";
import { childrenOf, Daemon } from "../accessory/harness.ts";
import { MOUNT, TestCgroupRoot } from "../reaper/cgroup_fixture.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "3" },
    clients: { type: "string", default: "50" },
    settle: { type: "string", default: "20" },
    names: { type: "string", default: "40" },
  },
});
const MINUTES = Number(values.minutes);
const CLIENTS = Number(values.clients);
const SETTLE_S = Number(values.settle);
const TTL_S = 2;
const SCOPE = "/soak.scope";
const REAPER = new URL("../../reaper/main.ts", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  rssKiB: number;
  fds: number;
  children: number;
}

function sample(pid: number): Sample {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return {
    rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)![1]),
    fds: [...Deno.readDirSync(`/proc/${pid}/fd`)].length,
    children: childrenOf(pid).size,
  };
}

if (MOUNT === null) throw new Error("no cgroup2 mount");
const cg = new TestCgroupRoot();
cg.mkdir(SCOPE);
const scope = cg.abs(SCOPE);
const accessory = await Daemon.start(["--namespace-ttl", String(TTL_S)]);
const reaper = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", REAPER, "--cgroup-root", cg.path, "--scope", SCOPE],
  stdin: "null",
  stdout: "null",
  stderr: "piped",
}).spawn();
let reaperLines = 0;
const reaperLog: string[] = [];
const reaperDrained = (async () => {
  let partial = "";
  for await (const chunk of reaper.stderr.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      reaperLines++;
      if (!/^storm\d+-\d+: /.test(line)) reaperLog.push(line);
    }
  }
})();

const workers: Worker[] = [];
const clientStats = new Map<number, Record<string, number>>();
const storm = { batches: 0, cgroups: 0 };
let exitCode = 0;
try {
  await sleep(3000); // both daemons up and idle
  const start = { accessory: sample(accessory.pid), reaper: sample(reaper.pid) };

  // Clients.
  for (let id = 0; id < CLIENTS; id++) {
    const w = new Worker(new URL("./soak_client_worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (e) => clientStats.set(id, e.data);
    w.postMessage({ address: accessory.address, id, names: Number(values.names) });
    workers.push(w);
  }

  // Cgroup storm: batches of 50 cgroups with one short-lived process each.
  const end = performance.now() + MINUTES * 60_000;
  let peak = { accessoryRssKiB: 0, reaperRssKiB: 0 };
  let lastPrint = performance.now();
  while (performance.now() < end) {
    const prefix = `storm${storm.batches}-`;
    const n = 50;
    for (let i = 0; i < n; i++) Deno.mkdirSync(`${scope}/${prefix}${i}`);
    const script = `i=0\nwhile [ $i -lt ${n} ]; do\n` +
      `sh -c "echo \\$\\$ > ${scope}/${prefix}$i/cgroup.procs && exec true"\ni=$((i+1))\ndone`;
    const status = await new Deno.Command("sh", { args: ["-c", script], stdin: "null" }).output();
    if (!status.success) throw new Error(`storm batch ${storm.batches} failed`);
    storm.batches++;
    storm.cgroups += n;
    const a = sample(accessory.pid);
    const r = sample(reaper.pid);
    peak = {
      accessoryRssKiB: Math.max(peak.accessoryRssKiB, a.rssKiB),
      reaperRssKiB: Math.max(peak.reaperRssKiB, r.rssKiB),
    };
    if (performance.now() - lastPrint > 30_000) {
      lastPrint = performance.now();
      const requests = [...clientStats.values()].reduce((s, c) => s + c.requests, 0);
      console.error(
        `${((MINUTES * 60_000 - (end - performance.now())) / 1000).toFixed(0)} s: ` +
          `${requests} requests, ${storm.cgroups} cgroups; accessory ${JSON.stringify(a)}, reaper ${
            JSON.stringify(r)
          }`,
      );
    }
    await sleep(50);
  }

  for (const w of workers) w.postMessage("stop");
  await sleep(2000);
  for (const w of workers) w.terminate();
  workers.length = 0;

  // Names expire (TTL) and empty cgroups get reaped; then compare.
  await sleep(SETTLE_S * 1000);
  const left = [...Deno.readDirSync(scope)].filter((e) => e.isDirectory).length;
  const final = { accessory: sample(accessory.pid), reaper: sample(reaper.pid) };
  const totals = { requests: 0, errors: 0, failures: 0, connections: 0 };
  for (const s of clientStats.values()) {
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k] ?? 0;
  }
  const delta = (d: "accessory" | "reaper") => ({
    rssKiB: final[d].rssKiB - start[d].rssKiB,
    fds: final[d].fds - start[d].fds,
    children: final[d].children - start[d].children,
  });
  const result = {
    soak: { minutes: MINUTES, clients: CLIENTS, settleSeconds: SETTLE_S, namespaceTtl: TTL_S },
    clients: totals,
    storm: { ...storm, leftoverCgroups: left, reaperLogLines: reaperLines },
    start,
    final,
    peak,
    delta: { accessory: delta("accessory"), reaper: delta("reaper") },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log("daemon     rss start->end (KiB)   fds start->end   children start->end");
  for (const d of ["accessory", "reaper"] as const) {
    console.log(
      `${d.padEnd(10)} ${start[d].rssKiB} -> ${final[d].rssKiB} (${
        delta(d).rssKiB >= 0 ? "+" : ""
      }${delta(d).rssKiB})`.padEnd(42) +
        `${start[d].fds} -> ${final[d].fds}`.padEnd(17) +
        `${start[d].children} -> ${final[d].children}`,
    );
  }
  console.log(
    `${totals.requests} requests (${totals.errors} ERROR responses, ${totals.failures} client failures), ` +
      `${storm.cgroups} cgroups (${left} left over)`,
  );
  if (
    delta("accessory").fds !== 0 || delta("accessory").children !== 0 || delta("reaper").fds !== 0
  ) {
    exitCode = 1;
  }
  if (totals.failures > 0 || left > 0) exitCode = 1;
} finally {
  for (const w of workers) w.terminate();
  const { code, log } = await accessory.stop();
  if (code !== 0) {
    console.error(`accessory exit ${code}; log tail:\n${log.slice(-2000)}`);
    exitCode = 1;
  }
  reaper.kill("SIGTERM");
  await reaper.status;
  await reaperDrained;
  const unusual = reaperLog.filter((l) =>
    !/watching|running without Lua|shutting down|listening/.test(l)
  );
  if (unusual.length > 0) {
    console.error(`reaper log (other than stats):\n${unusual.slice(0, 20).join("\n")}`);
  }
  await cg.cleanup();
}
Deno.exit(exitCode);
