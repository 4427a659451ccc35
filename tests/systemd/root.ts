// The Debian bookworm root the live-systemd tests boot: built once per
// machine with debootstrap (about 40 s, 300 MB) and cached outside the
// repository. A stamp of what went into it (suite, package list, mirror,
// preparation steps) sits inside; a different stamp means a rebuild. Built in
// a temporary directory next to it and renamed when complete, under a lock, so
// that an interrupted or concurrent build never leaves a half root in place.
// Containers only ever see it read-only through a throwaway overlay.

export const CACHE_DIR = Deno.env.get("CM4ALL_SPAWN_TEST_CACHE") ??
  "/var/cache/cm4all-spawn-tests";
export const ROOT_DIR = `${CACHE_DIR}/bookworm-root`;
const STAMP_FILE = ".cm4all-spawn-test-root";
const SUITE = "bookworm";

/**
 * What the package Depends on (packaging/deb.ts: libc6, iproute2, util-linux,
 * coreutils, adduser | systemd), systemd as PID 1 with D-Bus, and what the
 * tests drive inside (a PostgreSQL server for the reaper's script, procps).
 * init-system-helpers (deb-systemd-helper) is Essential in bookworm.
 */
export const ROOT_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "iproute2",
  "util-linux",
  "coreutils",
  "adduser",
  "procps",
  "postgresql-15",
] as const;

/** Bump when the preparation below changes. */
const PREPARATION = 2;

const decoder = new TextDecoder();

async function run(argv: string[]): Promise<string> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    env: { DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" },
  }).output();
  const output = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  if (!out.success) throw new Error(`${argv.join(" ")} failed (${out.code}):\n${output.trim()}`);
  return output;
}

/** The mirror apt uses for bookworm (deb822 or one-line sources), never a guess. */
export function aptMirror(): string {
  const candidates: string[] = [];
  try {
    for (const entry of Deno.readDirSync("/etc/apt/sources.list.d")) {
      if (entry.name.endsWith(".sources")) {
        candidates.push(`/etc/apt/sources.list.d/${entry.name}`);
      }
    }
  } catch { /* none */ }
  for (const path of candidates.sort()) {
    for (const stanza of Deno.readTextFileSync(path).split(/\n\s*\n/)) {
      const field = (name: string) =>
        stanza.match(new RegExp(`^${name}:\\s*(.+)$`, "mi"))?.[1].trim().split(/\s+/) ?? [];
      if (field("Types").includes("deb") && field("Suites").includes(SUITE)) {
        const uri = field("URIs")[0];
        if (uri !== undefined) return uri;
      }
    }
  }
  try {
    for (const line of Deno.readTextFileSync("/etc/apt/sources.list").split("\n")) {
      const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
      if (m !== null && m[2] === SUITE) return m[1];
    }
  } catch { /* none */ }
  throw new Error(`no apt source for ${SUITE} in /etc/apt/sources.list{,.d/*.sources}`);
}

function stamp(mirror: string): string {
  return JSON.stringify({ suite: SUITE, mirror, packages: ROOT_PACKAGES, PREPARATION }) + "\n";
}

function readStamp(root: string): string | null {
  try {
    return Deno.readTextFileSync(`${root}/${STAMP_FILE}`);
  } catch {
    return null;
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Makes a fresh debootstrap root into a container image for the tests. */
async function prepare(root: string): Promise<void> {
  // The tests start PostgreSQL (cluster 15/main) themselves; booting stays
  // fast without it.
  await run(["systemctl", `--root=${root}`, "disable", "postgresql.service"]);
  // A container has no consoles to spawn gettys on, no hardware clock.
  for (const unit of ["getty.target", "console-getty.service", "systemd-timesyncd.service"]) {
    await run(["systemctl", `--root=${root}`, "mask", unit]);
  }
  Deno.writeTextFileSync(`${root}/etc/hostname`, "spawn-test\n");
  // apt is never used inside; keep the image free of downloaded .debs.
  await run(["sh", "-c", `rm -f ${root}/var/cache/apt/archives/*.deb`]);
}

/**
 * The cached root, built first if missing or stale. `log` hears about a
 * build (it takes most of a minute).
 */
export async function ensureRoot(log: (line: string) => void = () => {}): Promise<string> {
  const mirror = aptMirror();
  const wanted = stamp(mirror);
  if (readStamp(ROOT_DIR) === wanted) return ROOT_DIR;
  Deno.mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
  using lock = Deno.openSync(`${CACHE_DIR}/.lock`, { create: true, write: true });
  await lock.lock(true);
  if (readStamp(ROOT_DIR) === wanted) return ROOT_DIR; // built meanwhile
  const started = performance.now();
  log(`building ${ROOT_DIR} from ${mirror} (debootstrap ${SUITE}, once per machine)`);
  const building = Deno.makeTempDirSync({ dir: CACHE_DIR, prefix: "building-" });
  try {
    Deno.chmodSync(building, 0o755);
    await run([
      "debootstrap",
      "--variant=minbase",
      `--include=${ROOT_PACKAGES.join(",")}`,
      SUITE,
      building,
      mirror,
    ]);
    await prepare(building);
    Deno.writeTextFileSync(`${building}/${STAMP_FILE}`, wanted);
    const old = `${CACHE_DIR}/old-${crypto.randomUUID()}`;
    try {
      Deno.renameSync(ROOT_DIR, old);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.renameSync(building, ROOT_DIR);
    removeQuietly(old);
    log(`built ${ROOT_DIR} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return ROOT_DIR;
  } finally {
    removeQuietly(building);
  }
}

if (import.meta.main) console.log(await ensureRoot(console.log));
