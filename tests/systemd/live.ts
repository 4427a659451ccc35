// Helpers for driving the installed package inside a booted container:
// systemctl properties, the journal, namespace identities, the packages under
// test.
import { assert } from "../assert.ts";
import { buildDist } from "../../packaging/dist.ts";
import { buildDeb, debFileName } from "../../packaging/deb.ts";
import { VERSION } from "../../shared/version.ts";
import { type Container, waitFor } from "./container.ts";

/** The version of the "newer build" the upgrade installs. */
export const NEXT_VERSION = `${VERSION}+live1`;
export const PACKAGE_DIR_INSIDE = "/mnt/pkg";

export interface Packages {
  /** Host directory holding both .debs (bound to PACKAGE_DIR_INSIDE). */
  dir: string;
  first: string;
  next: string;
}

let packages: Promise<Packages> | undefined;
let packagesDir: string | undefined;

/** The .deb of this tree, and a newer build of it; built once per test file. */
export function livePackages(): Promise<Packages> {
  packages ??= (async () => {
    packagesDir = Deno.makeTempDirSync({ prefix: "spawn-live-deb-" });
    const dist = `${packagesDir}/dist`;
    await buildDist(dist, () => {});
    const dir = `${packagesDir}/pkg`;
    Deno.mkdirSync(dir);
    await buildDeb(dist, dir);
    await buildDeb(dist, dir, NEXT_VERSION);
    Deno.removeSync(dist, { recursive: true });
    return {
      dir,
      first: `${PACKAGE_DIR_INSIDE}/${debFileName(VERSION)}`,
      next: `${PACKAGE_DIR_INSIDE}/${debFileName(NEXT_VERSION)}`,
    };
  })();
  return packages;
}

globalThis.addEventListener("unload", () => {
  if (packagesDir !== undefined) Deno.removeSync(packagesDir, { recursive: true });
});

/** `systemctl show UNIT -p …` as a record. */
export async function show(
  c: Container,
  unit: string,
  properties: string[],
): Promise<Record<string, string>> {
  const out = await c.run(["systemctl", "show", unit, ...properties.flatMap((p) => ["-p", p])]);
  const result: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) result[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return result;
}

/** Waits until UNIT is active/running (Type=notify: READY=1 was received); returns its main pid. */
export async function waitRunning(c: Container, unit: string, notPid?: number): Promise<number> {
  return await waitFor(`${unit} running`, async () => {
    const s = await show(c, unit, ["ActiveState", "SubState", "MainPID"]);
    const pid = Number(s.MainPID);
    const running = s.ActiveState === "active" && s.SubState === "running" && pid > 0;
    return running && pid !== notPid ? pid : undefined;
  });
}

/** The unit's journal, messages only. */
export async function journal(c: Container, unit: string): Promise<string> {
  return await c.run(["journalctl", "-u", unit, "-o", "cat", "--no-pager"]);
}

/** Waits until the unit's journal matches pattern; returns the journal. */
export async function waitJournal(c: Container, unit: string, pattern: RegExp): Promise<string> {
  return await waitFor(`${pattern} in the journal of ${unit}`, async () => {
    const text = await journal(c, unit);
    return pattern.test(text) ? text : undefined;
  });
}

export function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, "g" + pattern.flags.replace("g", "")))?.length ?? 0;
}

export interface NameIdentity {
  /** The PID and IPC namespaces a client gets for NAME (inode links). */
  pidNamespace: string;
  ipcNamespace: string;
  /** The pid of NAME's init as the container sees it. */
  initPid: number;
}

/** Runs cm4all-spawn-client NAME (activating the socket if need be) and identifies the name. */
export async function nameIdentity(c: Container, name: string): Promise<NameIdentity> {
  const out = await c.run([
    "cm4all-spawn-client",
    name,
    "sh",
    "-c",
    "readlink /proc/1/ns/pid /proc/self/ns/ipc; cat /proc/1/comm",
  ]);
  const [pidNamespace, ipcNamespace, comm] = out.trim().split("\n");
  assert(comm === `init-${name}`.slice(0, 15), `PID 1 of the namespace is ${comm}`);
  const pids = (await c.run(["pgrep", "-x", `init-${name}`.slice(0, 15)])).trim().split("\n");
  assert(pids.length === 1, `one init for ${name}: ${pids}`);
  return { pidNamespace, ipcNamespace, initPid: Number(pids[0]) };
}

/** The container's cgroup2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified in the hybrid layout). */
export async function cgroup2Mount(c: Container): Promise<string> {
  const out = await c.run(["findmnt", "-n", "-t", "cgroup2", "-o", "TARGET"]);
  const mount = out.trim().split("\n")[0];
  assert(mount.startsWith("/sys/fs/cgroup"), `cgroup2 mount: ${out}`);
  return mount;
}

/** Writes a file inside the container. */
export async function writeFile(c: Container, path: string, text: string, mode = "644") {
  await c.run(["sh", "-c", 'cat > "$0" && chmod "$1" "$0"', path, mode], { input: text });
}

/** Whether path exists inside the container. */
export async function exists(c: Container, path: string): Promise<boolean> {
  return (await c.exec(["test", "-e", path])).code === 0;
}

/** `systemd-analyze security UNIT`'s overall exposure. */
export async function exposure(c: Container, unit: string): Promise<number> {
  const out = await c.run(["systemd-analyze", "security", "--no-pager", unit]);
  const m = out.match(/Overall exposure level for \S+: (\d+\.\d)/);
  assert(m !== null, `no overall exposure in:\n${out}`);
  return Number(m[1]);
}

/**
 * Runs `fn` with the unit's ExecStart= replaced by `command` (a drop-in in
 * /run, daemon-reload), then removes the drop-in and runs `after` (systemctl
 * arguments, e.g. ["stop", unit]), whatever `fn` did.
 */
export async function withExecStart(
  c: Container,
  unit: string,
  command: string,
  fn: () => Promise<void>,
  after: string[],
): Promise<void> {
  const dropIn = `/run/systemd/system/${unit}.d/exec-start.conf`;
  await c.run(["mkdir", "-p", dropIn.replace(/\/[^/]+$/, "")]);
  await writeFile(c, dropIn, `[Service]\nExecStart=\nExecStart=${command}\n`);
  try {
    await c.run(["systemctl", "daemon-reload"]);
    await fn();
  } finally {
    await c.exec(["rm", "-f", dropIn]);
    await c.exec(["systemctl", "daemon-reload"]);
    await c.exec(["systemctl", ...after]);
  }
}
