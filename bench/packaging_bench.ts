// Figures for the shipped form: dist build time and sizes, cold start of each
// launcher (--version, nothing cached: DENO_DIR=/dev/null as outside systemd)
// with its peak RSS, and cm4all-spawn-netns up+down on real namespaces.
//
//   deno run -A bench/packaging_bench.ts [--runs N]
//
// Needs root for the netns part (skipped otherwise).
import { buildDist } from "../packaging/dist.ts";
import { getuid } from "../ffi/process.ts";

const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(Deno.args[runsArg + 1]) : 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall time in ms and peak RSS in KiB of one run, via GNU time when present. */
async function timed(argv: string[]): Promise<{ ms: number; rssKiB: number | null }> {
  const useTime = (() => {
    try {
      Deno.statSync("/usr/bin/time");
      return true;
    } catch {
      return false;
    }
  })();
  const full = useTime ? ["/usr/bin/time", "-f", "%M", ...argv] : argv;
  const t0 = performance.now();
  const out = await new Deno.Command(full[0], { args: full.slice(1), stdin: "null" }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  const last = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
  return { ms, rssKiB: useTime ? Number(last) : null };
}

const tmp = Deno.makeTempDirSync({ prefix: "packaging-bench-" });
try {
  const t0 = performance.now();
  const manifest = await buildDist(`${tmp}/dist`, () => {});
  const distSeconds = (performance.now() - t0) / 1000;
  const programs = [];
  for (const name of manifest.programs) {
    const samples = [];
    for (let i = 0; i < RUNS; i++) samples.push(await timed([`${tmp}/dist/${name}`, "--version"]));
    programs.push({
      name,
      bundleKiB: Math.round(Deno.statSync(`${tmp}/dist/${name}.js`).size / 1024),
      startMs: Math.round(median(samples.map((s) => s.ms))),
      rssKiB: samples[0].rssKiB === null ? null : median(samples.map((s) => s.rssKiB!)),
    });
  }
  let netns: { upMs: number; downMs: number } | null = null;
  if (getuid() === 0) {
    const name = `b${crypto.randomUUID().slice(0, 6)}`;
    Deno.writeTextFileSync(`${tmp}/${name}`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const ups = [], downs = [];
    try {
      for (let i = 0; i < Math.min(RUNS, 5); i++) {
        ups.push(
          (await timed([`${tmp}/dist/cm4all-spawn-netns`, "up", name, "--setup-dir", tmp])).ms,
        );
        downs.push((await timed([`${tmp}/dist/cm4all-spawn-netns`, "down", name])).ms);
      }
    } finally {
      await new Deno.Command("ip", { args: ["netns", "delete", name], stderr: "null" }).output();
      await new Deno.Command("ip", { args: ["link", "delete", name], stderr: "null" }).output();
    }
    netns = { upMs: Math.round(median(ups)), downMs: Math.round(median(downs)) };
  }
  const result = {
    runs: RUNS,
    distSeconds: Number(distSeconds.toFixed(2)),
    runtimeMiB: Math.round(Deno.statSync(`${tmp}/dist/deno`).size / 1048576),
    programs,
    netns,
  };
  console.log(JSON.stringify(result));
  console.log(`dist built in ${result.distSeconds} s; runtime ${result.runtimeMiB} MiB`);
  console.log("program                  bundle KiB  start ms (median)  peak RSS KiB");
  for (const p of programs) {
    console.log(
      `${p.name.padEnd(24)} ${String(p.bundleKiB).padStart(10)}  ${
        String(p.startMs).padStart(17)
      }  ${String(p.rssKiB ?? "-").padStart(12)}`,
    );
  }
  if (netns) {
    console.log(`netns up ${netns.upMs} ms, down ${netns.downMs} ms (median, via launcher)`);
  }
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
