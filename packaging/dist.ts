// `deno task dist`: builds dist/ — one self-contained, code-split bundle per
// program in js/ (npm packages inlined, see BUNDLE_DIR in layout.ts), the
// pinned deno runtime and the launchers, plus
// share/ with what `install` and `deb` put elsewhere (units, sysusers entry,
// default reaper script, README).
import { VERSION } from "../shared/version.ts";
import { count } from "../shared/number_format.ts";
import { launcherScript } from "./launcher.ts";
import {
  BUNDLE_DIR,
  bundleEntry,
  DEFAULT_REAPER_LUA_SOURCE,
  PROGRAMS,
  SYSUSERS_SOURCE,
  UNITS,
} from "./layout.ts";
import { exists } from "./exists.ts";
import { filesBelow } from "./files_below.ts";

export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const DIST = `${REPO}/dist`;

export interface Manifest {
  version: string;
  programs: string[];
  /** Programs whose entry point does not exist (yet). */
  missing: { name: string; entry: string }[];
}

/** The real deno binary behind node_modules/.bin/deno (not the npm shim). */
export function denoRuntime(): string {
  const pinned = `${REPO}/node_modules/.bin/deno`;
  return Deno.realPathSync(exists(pinned) ? pinned : Deno.execPath());
}

/** The bundle of entry in outdir: the entry's file and its chunks. */
async function bundle(entry: string, outdir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--packages",
      "bundle",
      "--code-splitting",
      "--outdir",
      outdir,
      entry,
    ],
    cwd: REPO,
    stdin: "null",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `deno bundle ${entry} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/**
 * Rewrites a bundle's on-demand imports of its own chunks, import("./x.js"),
 * to import(new URL("./x.js", import.meta.url).href): the same module, but
 * Deno no longer parses it while building the module graph at start. Without
 * a code cache (no CacheDirectory=, or the first start after an upgrade) that
 * parse stays in memory whether or not the chunk is ever loaded: 21 MB for
 * the reaper's Lua hook chunk (fengari, libsodium) when no script is
 * configured.
 */
export function deferOnDemandChunks(file: string): void {
  const code = Deno.readTextFileSync(file);
  const deferred = code.replace(
    /\bimport\(\s*"(\.\/[A-Za-z0-9_.-]+\.js)"\s*\)/g,
    (_, chunk: string) => `import(new URL(${JSON.stringify(chunk)}, import.meta.url).href)`,
  );
  if (deferred !== code) Deno.writeTextFileSync(file, deferred);
}

export async function buildDist(
  dist = DIST,
  log: (line: string) => void = console.log,
): Promise<Manifest> {
  try {
    Deno.removeSync(dist, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.mkdirSync(`${dist}/share/units`, { recursive: true });
  const manifest: Manifest = { version: VERSION, programs: [], missing: [] };
  const present = PROGRAMS.filter((program) => {
    if (exists(`${REPO}/${program.entry}`)) return true;
    manifest.missing.push({ name: program.name, entry: program.entry });
    log(`dist: skipping ${program.name}: ${program.entry} does not exist yet`);
    return false;
  });
  for (const program of present) {
    await bundle(program.entry, `${dist}/${BUNDLE_DIR}/${program.name}`);
    for (const file of filesBelow(`${dist}/${BUNDLE_DIR}/${program.name}`)) {
      deferOnDemandChunks(file);
    }
    if (!exists(`${dist}/${bundleEntry(program)}`)) {
      throw new Error(`deno bundle wrote no ${bundleEntry(program)} for ${program.entry}`);
    }
    Deno.writeTextFileSync(`${dist}/${program.name}`, launcherScript(program), { mode: 0o755 });
    Deno.chmodSync(`${dist}/${program.name}`, 0o755);
    manifest.programs.push(program.name);
  }
  Deno.copyFileSync(denoRuntime(), `${dist}/deno`);
  Deno.chmodSync(`${dist}/deno`, 0o755);
  for (const unit of UNITS) {
    Deno.copyFileSync(`${REPO}/units/${unit}`, `${dist}/share/units/${unit}`);
  }
  Deno.copyFileSync(`${REPO}/${SYSUSERS_SOURCE}`, `${dist}/share/cm4all-spawn.sysusers`);
  if (exists(`${REPO}/${DEFAULT_REAPER_LUA_SOURCE}`)) {
    Deno.copyFileSync(`${REPO}/${DEFAULT_REAPER_LUA_SOURCE}`, `${dist}/share/reaper.lua`);
  } else {
    log(`dist: no default reaper script yet (${DEFAULT_REAPER_LUA_SOURCE})`);
  }
  if (exists(`${REPO}/README.md`)) {
    Deno.copyFileSync(`${REPO}/README.md`, `${dist}/share/README.md`);
  }
  Deno.writeTextFileSync(`${dist}/share/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** Reads dist/'s manifest; fails naming what is missing when complete is required. */
export function readManifest(dist: string, requireComplete: boolean): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(Deno.readTextFileSync(`${dist}/share/manifest.json`));
  } catch {
    throw new Error(`${dist} is not built: run 'deno task dist' first`);
  }
  if (manifest.version !== VERSION) {
    throw new Error(
      `${dist} holds version ${manifest.version}, not ${VERSION}: run 'deno task dist'`,
    );
  }
  if (requireComplete && manifest.missing.length > 0) {
    const names = manifest.missing.map((m) => `${m.name} (${m.entry})`).join(", ");
    throw new Error(`${dist} lacks ${names}: the units would point at missing programs`);
  }
  return manifest;
}

if (import.meta.main) {
  const started = performance.now();
  const manifest = await buildDist();
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0).padStart(7)} KiB`;
  const rows = PROGRAMS.filter((p) => manifest.programs.includes(p.name)).map((p) => {
    const dir = `${DIST}/${BUNDLE_DIR}/${p.name}`;
    const files = filesBelow(dir);
    const total = files.reduce((sum, f) => sum + Deno.statSync(f).size, 0);
    return `  ${p.name.padEnd(24)} ${kib(total)} (${count(files.length, "file")})`;
  });
  rows.push(`  ${"deno".padEnd(24)} ${kib(Deno.statSync(`${DIST}/deno`).size)}`);
  console.log(
    `dist: ${DIST} (version ${manifest.version}) in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  console.log(rows.join("\n"));
}
