// `deno task demo`: a walk through the product in well under 30 s, on a
// private socket and a scope cgroup of its own, removing all of it after.
//  1. the accessory hands out IPC/PID namespaces; the client runs shells in them
//  2. processes run in a cgroup of a scope; when it runs empty the reaper logs
//     its stats line, runs the Lua script and deletes it
import { fatal } from "../shared/cli.ts";
import { writeAllSync } from "../shared/log.ts";
import { getuid } from "../ffi/process.ts";
import { close, O_CLOEXEC, O_DIRECTORY, O_RDONLY, open } from "../ffi/fd.ts";
import { fsetxattr } from "../ffi/fs.ts";
import { findCgroup2Root } from "../reaper/cgroup/root.ts";
import { DEFAULT_REAPER_LUA_SOURCE } from "./layout.ts";
import { denoRun, Supervised } from "./supervisor.ts";
import { REPO } from "./dist.ts";
import { exists } from "./exists.ts";

const NAME = "cm4all-spawn-demo";
const started = performance.now();
const out = (text: string) => writeAllSync(Deno.stdout, text);
const heading = (text: string) => out(`\n== ${text}\n`);
const note = (text: string) => out(`   ${text}\n`);

/** Shows "$ shown", runs argv with its output live as "[label]" lines. */
async function show(label: string, shown: string, argv: string[]): Promise<void> {
  out(`$ ${shown}\n`);
  const status = await new Supervised(label, argv).finished();
  if (!status.success) throw new Error(`${shown} exited with status ${status.code}`);
}

/** Sets user.account on a cgroup directory, as a spawner might; false where cgroupfs lacks user xattrs. */
function setAccount(dir: string, account: string): boolean {
  const fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  try {
    fsetxattr(fd, "user.account", new TextEncoder().encode(account));
    return true;
  } catch {
    return false;
  } finally {
    close(fd);
  }
}

if (getuid() !== 0) fatal(NAME, "must run as root (namespaces and cgroups)");
const root = findCgroup2Root();
if (!root) fatal(NAME, "no cgroup2 mount in /proc/self/mountinfo");

const socket = `@cm4all-spawn-demo-${Deno.pid}`;
const scope = `/cm4all-spawn-demo-${Deno.pid}.scope`;
const scopeDir = `${root}${scope}`;
const names = [`demo${Deno.pid}`, `other${Deno.pid}`].map((n) => n.slice(0, 10));
const lua = `${REPO}/${DEFAULT_REAPER_LUA_SOURCE}`;
const client = (...args: string[]) =>
  denoRun("accessory/client_main.ts", ["--socket", socket, ...args]);

heading(`Starting the daemons (socket ${socket}, scope ${scope} below ${root})`);
// The scope would exist on a spawner host; here the demo makes its own.
Deno.mkdirSync(scopeDir);
const daemons: Supervised[] = [];
let failed = false;
try {
  const reaperArgs = ["--cgroup-root", root, "--scope", scope];
  if (exists(lua)) reaperArgs.push("--lua", lua);
  else note(`(${DEFAULT_REAPER_LUA_SOURCE} is missing: the reaper runs without Lua)`);
  daemons.push(new Supervised("accessory", denoRun("accessory/main.ts", ["--listen", socket])));
  daemons.push(new Supervised("reaper", denoRun("reaper/main.ts", reaperArgs)));
  await daemons[0].waitForLine(/listening/, 10_000);
  await daemons[1].waitForLine(/watching/, 10_000);

  heading("1. Namespaces from the accessory");
  note(`cm4all-spawn-client asks for NAME's IPC and PID namespaces and runs a command there:`);
  await show(
    "shell",
    `cm4all-spawn-client ${names[0]} sh -c 'echo "my pid: $$"; ps -eo pid,comm'`,
    client(names[0], "/bin/sh", "-c", 'echo "my pid: $$"; ps -eo pid,comm'),
  );
  note(`PID 1 is the namespace's init; the shell sees only its own namespace.`);
  note(`The same NAME again joins the same namespaces (a message queue made there stays):`);
  await show(
    "shell",
    `cm4all-spawn-client ${names[0]} sh -c 'ipcmk -Q >/dev/null; ipcs -q | grep -c 0x'`,
    client(names[0], "/bin/sh", "-c", "ipcmk -Q >/dev/null; ipcs -q | grep -c 0x"),
  );
  await show(
    "shell",
    `cm4all-spawn-client ${names[0]} sh -c 'ipcs -q | grep -c 0x; cat /proc/1/comm'`,
    client(names[0], "/bin/sh", "-c", "ipcs -q | grep -c 0x; cat /proc/1/comm"),
  );
  note(`Another NAME has namespaces of its own (no queue, another init):`);
  await show(
    "shell",
    `cm4all-spawn-client ${names[1]} sh -c 'ipcs -q | grep -c 0x; cat /proc/1/comm'`,
    client(names[1], "/bin/sh", "-c", "ipcs -q | grep -c 0x || true; cat /proc/1/comm"),
  );

  heading("2. Cgroups reaped by the reaper");
  for (const job of ["job-1", "job-2"]) {
    const dir = `${scopeDir}/${job}`;
    Deno.mkdirSync(dir);
    note(`${scope}/${job}: a spawner's cgroup; a shell moves itself in and burns a little CPU`);
    if (setAccount(dir, `customer-${job.slice(-1)}`)) {
      note(`the spawner tagged it with the xattr user.account=customer-${job.slice(-1)}`);
    }
    await show(
      job,
      `sh -c 'echo $$ > ${dir}/cgroup.procs; count to 300000'`,
      [
        "/bin/sh",
        "-c",
        `echo $$ > ${dir}/cgroup.procs && i=0 && while [ $i -lt 300000 ]; do i=$((i+1)); done && ` +
        `echo "counted to $i in $(grep ^0:: /proc/self/cgroup | cut -d: -f3)"`,
      ],
    );
    note("it ran empty: the reaper logs its stats line, runs the script and deletes it");
    await daemons[1].waitForLine(new RegExp(`${job}\\b`), 10_000);
    for (let i = 0; i < 100 && exists(dir); i++) await new Promise((r) => setTimeout(r, 50));
    if (exists(dir)) throw new Error(`the reaper did not delete ${dir}`);
    note(`${job} is gone`);
  }
} catch (e) {
  failed = true;
  out(`\n${NAME}: ${e instanceof Error ? e.message : String(e)}\n`);
} finally {
  heading("Cleaning up");
  const statuses = await Promise.all(daemons.map((d) => d.stop("SIGTERM")));
  statuses.forEach((s, i) => {
    if (!s.success) {
      failed = true;
      note(`${daemons[i].name} exited with status ${s.code}`);
    }
  });
  for (const entry of exists(scopeDir) ? [...Deno.readDirSync(scopeDir)] : []) {
    if (entry.isDirectory) Deno.removeSync(`${scopeDir}/${entry.name}`);
  }
  if (exists(scopeDir)) Deno.removeSync(scopeDir);
  const inits = names.map((n) => `init-${n}`.slice(0, 15));
  const left = await new Deno.Command("pgrep", { args: ["-x", inits.join("|")] }).output();
  if (left.stdout.length > 0) {
    failed = true;
    note(`namespace inits left behind: ${new TextDecoder().decode(left.stdout).trim()}`);
  }
  note(`daemons stopped, ${scope} removed, no namespace init left`);
  note(`${((performance.now() - started) / 1000).toFixed(1)} s`);
}
Deno.exit(failed ? 1 : 0);
