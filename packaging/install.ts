// `deno task install [--prefix DIR]`: builds dist/, then installs it into DIR
// (default /):
// programs in /usr/lib/cm4all/spawn with links in /usr/sbin, the units, the
// sysusers entry, the default /etc/cm4all/spawn/reaper.lua (an existing one
// is kept) and the netns setup.d directory.
import { fatal, newProgram, parseCommandLine } from "../shared/cli.ts";
import { DIST, type Manifest, readManifest } from "./dist.ts";
import { BUNDLE_DIR, PATHS, UNITS } from "./layout.ts";
import { exists } from "./exists.ts";
import { filesBelow } from "./files_below.ts";

export interface InstallOptions {
  root: string;
  /** A built dist/ (default: the repository's). */
  dist?: string;
  log?: (line: string) => void;
}

function copy(from: string, to: string, mode: number): void {
  Deno.copyFileSync(from, to);
  Deno.chmodSync(to, mode);
}

/** Copies the files of a complete dist/ below root; returns the paths written. */
export function installTree(
  manifest: Manifest,
  { root, dist = DIST, log = () => {} }: InstallOptions,
): string[] {
  const at = (path: string) => `${root.replace(/\/+$/, "")}/${path}`;
  const written: string[] = [];
  const mkdir = (path: string) => Deno.mkdirSync(at(path), { recursive: true, mode: 0o755 });
  for (
    const dir of [PATHS.libDir, PATHS.sbinDir, PATHS.unitDir, PATHS.netnsSetupDir, PATHS.docDir]
  ) mkdir(dir);
  mkdir(PATHS.sysusersFile.replace(/\/[^/]+$/, ""));

  copy(`${dist}/deno`, at(`${PATHS.libDir}/deno`), 0o755);
  written.push(`${PATHS.libDir}/deno`);
  // The bundle anew: no chunk of an earlier version stays behind.
  const bundleDir = `${PATHS.libDir}/${BUNDLE_DIR}`;
  if (exists(at(bundleDir))) Deno.removeSync(at(bundleDir), { recursive: true });
  for (const from of filesBelow(`${dist}/${BUNDLE_DIR}`)) {
    const to = `${bundleDir}${from.slice(`${dist}/${BUNDLE_DIR}`.length)}`;
    mkdir(to.replace(/\/[^/]+$/, ""));
    copy(from, at(to), 0o644);
    written.push(to);
  }
  for (const name of manifest.programs) {
    // The single-file bundle of versions before the split.
    if (exists(at(`${PATHS.libDir}/${name}.js`))) Deno.removeSync(at(`${PATHS.libDir}/${name}.js`));
    copy(`${dist}/${name}`, at(`${PATHS.libDir}/${name}`), 0o755);
    const link = at(`${PATHS.sbinDir}/${name}`);
    if (exists(link)) Deno.removeSync(link);
    // Relative, so that the tree works below any root (scratch roots, packages).
    Deno.symlinkSync(`../lib/cm4all/spawn/${name}`, link);
    written.push(`${PATHS.libDir}/${name}`, `${PATHS.sbinDir}/${name}`);
  }
  for (const unit of UNITS) {
    copy(`${dist}/share/units/${unit}`, at(`${PATHS.unitDir}/${unit}`), 0o644);
    written.push(`${PATHS.unitDir}/${unit}`);
  }
  copy(`${dist}/share/cm4all-spawn.sysusers`, at(PATHS.sysusersFile), 0o644);
  written.push(PATHS.sysusersFile);
  if (exists(`${dist}/share/README.md`)) {
    copy(`${dist}/share/README.md`, at(`${PATHS.docDir}/README.md`), 0o644);
    written.push(`${PATHS.docDir}/README.md`);
  }
  if (exists(at(PATHS.reaperLua))) {
    log(`install: keeping the existing /${PATHS.reaperLua}`);
  } else if (exists(`${dist}/share/reaper.lua`)) {
    copy(`${dist}/share/reaper.lua`, at(PATHS.reaperLua), 0o644);
    written.push(PATHS.reaperLua);
  }
  return written;
}

async function run(argv: string[]): Promise<boolean> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  return out.success;
}

/** On the live system: create the reaper's user and let systemd see the units. */
async function activate(log: (line: string) => void): Promise<void> {
  if (!(await run(["systemd-sysusers", `/${PATHS.sysusersFile}`]))) {
    log("install: systemd-sysusers failed; create the user cm4all-spawn-reaper by hand");
  }
  if (exists("/run/systemd/system") && !(await run(["systemctl", "daemon-reload"]))) {
    log("install: systemctl daemon-reload failed");
  }
}

if (import.meta.main) {
  const NAME = "cm4all-spawn-install";
  const program = newProgram(NAME, "Install the built dist/ into a root.")
    .option("--prefix <DIR>", "install below DIR instead of /", "/");
  parseCommandLine(program, Deno.args);
  const root: string = program.opts().prefix;
  try {
    const manifest = readManifest(DIST, true);
    const written = installTree(manifest, { root, log: console.log });
    console.log(`install: ${written.length} files below ${root}`);
    if (root === "/") {
      await activate(console.log);
      console.log(
        "next: systemctl enable --now cm4all-spawn-accessory.socket cm4all-spawn-reaper.service",
      );
    }
  } catch (e) {
    fatal(NAME, e instanceof Error ? e.message : String(e));
  }
}
