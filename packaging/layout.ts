// What the suite installs and where: one table shared by dist, install, deb,
// compile and the tests, so that the units' ExecStart paths, the launchers
// and the package cannot drift apart.

export interface Program {
  /** Installed name (launcher, /usr/sbin link, bundle basename). */
  name: string;
  /** Entry point relative to the repository root. */
  entry: string;
  /**
   * Deno permission flags. FFI (libc) already gives a program everything the
   * kernel allows it, so for the FFI programs narrower flags would protect
   * nothing; they read /proc (fds, mountinfo, orphaned inits), which Deno
   * grants only with --allow-all.
   */
  permissions: string[];
  /**
   * V8 flags for a long-running daemon: a 1 MB young generation and no V8
   * helper threads cut anonymous memory by about a third at no measured cost
   * in throughput (README "Memory", bench/accessory_bench.ts --only memory).
   */
  v8Flags?: string[];
}

/**
 * Where the bundles live, beside the launchers: one code-split bundle per
 * program (deno bundle --code-splitting) in a directory of its own, the
 * entry named like its source (accessory/main.ts: js/cm4all-spawn-accessory/
 * main.js), chunks imported only on demand beside it. A daemon therefore
 * loads no code it does not run: the accessory's usual command line needs no
 * commander, and without the split its bundle would load commander's Node
 * built-ins (node:child_process, node:fs, …) at start, 2.5 MB of anonymous
 * memory for good. One bundle for all programs would share chunks, but puts
 * esbuild's require() shim (node:module, for fengari's CommonJS) into every
 * program's start-up: 1.5 MB more (README "Memory").
 */
export const BUNDLE_DIR = "js";

/** The program's entry in the bundle, relative to the launcher's directory. */
export function bundleEntry(program: Program): string {
  const file = program.entry.slice(program.entry.lastIndexOf("/") + 1).replace(/\.ts$/, ".js");
  return `${BUNDLE_DIR}/${program.name}/${file}`;
}

/** The daemons' V8 flags (see Program.v8Flags). */
export const DAEMON_V8_FLAGS = ["--max-semi-space-size=1", "--single-threaded"];

export const PROGRAMS: readonly Program[] = [
  {
    name: "cm4all-spawn-accessory",
    entry: "accessory/main.ts",
    permissions: ["--allow-all"],
    v8Flags: DAEMON_V8_FLAGS,
  },
  {
    name: "cm4all-spawn-client",
    entry: "accessory/client_main.ts",
    permissions: ["--allow-all"],
  },
  {
    name: "cm4all-spawn-reaper",
    entry: "reaper/main.ts",
    permissions: ["--allow-all"],
    v8Flags: DAEMON_V8_FLAGS,
  },
  {
    name: "cm4all-spawnctl",
    entry: "spawnctl/main.ts",
    permissions: ["--allow-all"],
  },
  {
    name: "cm4all-spawn-netns",
    entry: "netns/main.ts",
    permissions: ["--allow-run=ip", "--allow-read", "--allow-env"],
  },
];

/** Installed paths, relative to the target root. */
export const PATHS = {
  libDir: "usr/lib/cm4all/spawn",
  sbinDir: "usr/sbin",
  unitDir: "lib/systemd/system",
  sysusersFile: "usr/lib/sysusers.d/cm4all-spawn.conf",
  docDir: "usr/share/doc/cm4all-spawn",
  configDir: "etc/cm4all/spawn",
  reaperLua: "etc/cm4all/spawn/reaper.lua",
  netnsSetupDir: "etc/cm4all/spawn/netns/setup.d",
} as const;

/** Unit files in units/, installed unchanged into PATHS.unitDir. */
export const UNITS = [
  "system-cm4all.slice",
  "cm4all-spawn-accessory.socket",
  "cm4all-spawn-accessory.service",
  "cm4all-spawn-reaper.service",
  "cm4all-spawn-netns@.service",
  "cm4all-spawn-metrics.service",
  "cm4all-spawn-metrics.timer",
] as const;

export const SYSUSERS_SOURCE = "units/cm4all-spawn.sysusers";
export const DEFAULT_REAPER_LUA_SOURCE = "reaper/lua/example_reaper.lua";

/** Unit names systemd-analyze verify can load (templates need an instance). */
export function verifiableUnitNames(): string[] {
  return UNITS.map((unit) => unit.replace("@.", "@example."));
}
