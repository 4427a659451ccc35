// The real daemon (reaper/main.ts) with a Lua script: attributes printed by
// cgroup_released match the stats line, xattrs of the cgroup and its parent,
// SIGHUP runs reload, --simulate and --check-lua exit codes. Root and a
// cgroup2 mount needed.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { close, O_DIRECTORY, O_RDONLY, open, read } from "../../ffi/fd.ts";
import { bind, SOCK_DGRAM, unixSocket } from "../../ffi/socket.ts";
import { fsetxattr } from "../../ffi/fs.ts";
import { CANNOT_RUN, sleep, TestCgroupRoot, waitFor } from "../reaper/cgroup_fixture.ts";
import { collectLines } from "../child_lines.ts";
import { runReaper } from "../reaper/reaper_process.ts";

const DENO = Deno.execPath();
const MAIN = new URL("../../reaper/main.ts", import.meta.url).pathname;

const PRINT_ALL = `
local keys = {"path", "btime", "age", "cpu_total", "cpu_user", "cpu_system", "memory_peak",
  "memory_events_high", "memory_events_max", "memory_events_oom", "pids_peak", "pids_forks",
  "pids_events_max"}
function cgroup_released(c)
  local t = {}
  for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. tostring(c[k]) end
  t[#t + 1] = "xattr.account=" .. tostring(c.xattr.account)
  t[#t + 1] = "parent.path=" .. tostring(c.parent and c.parent.path)
  t[#t + 1] = "parent.xattr.account=" .. tostring(c.parent and c.parent.xattr.account)
  t[#t + 1] = "parent.parent=" .. tostring(c.parent and c.parent.parent)
  print(table.concat(t, " "))
  if c.path:match("fail$") then error("handler failed for " .. c.path) end
end
function reload() print("reload called") end
`;

function setXattr(dir: string, name: string, value: string): void {
  const fd = open(dir, O_RDONLY | O_DIRECTORY);
  try {
    fsetxattr(fd, name, new TextEncoder().encode(value));
  } finally {
    close(fd);
  }
}

function fields(line: string): Record<string, string> {
  return Object.fromEntries(
    line.split(" ").map((kv) => {
      const at = kv.indexOf("=");
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  );
}

/** The cpu=<t>s/<u>s/<s>s figures of a stats line, or null. */
function statsCpu(line: string): number[] | null {
  const m = line.match(/ cpu=([\d.]+)s(?:\/([\d.]+)s\/([\d.]+)s)?/);
  return m === null ? null : m.slice(1).filter((x) => x !== undefined).map(Number);
}

Deno.test({
  name: "daemon + Lua: printed attributes match the stats line, xattrs, parents, SIGHUP reload",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const scriptDir = await Deno.makeTempDir({ prefix: "lua-e2e-" });
    let child: Deno.ChildProcess | null = null;
    const notifyName = `@spawn-test-lua-notify-${crypto.randomUUID().slice(0, 8)}`;
    const notifyFd = unixSocket(SOCK_DGRAM);
    try {
      bind(notifyFd, notifyName);
      const script = `${scriptDir}/reaper.lua`;
      await Deno.writeTextFile(script, PRINT_ALL);
      cg.mkdir("/s");
      setXattr(cg.abs("/s"), "user.account", "scope-acct");
      child = new Deno.Command(DENO, {
        args: ["run", "-A", MAIN, "--cgroup-root", cg.path, "--scope", "/s", "--lua", script],
        env: { NOTIFY_SOCKET: notifyName },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = collectLines(child.stdout);
      const err = collectLines(child.stderr);
      const buf = new Uint8Array(64);
      await waitFor(() => read(notifyFd, buf) !== null, "READY=1", 20_000); // script loaded

      cg.mkdir("/s/job");
      setXattr(cg.abs("/s/job"), "user.account", "abc");
      cg.mkdir("/s/fail");
      await sleep(50);
      await cg.runIn("/s/job", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
      await waitFor(() => !cg.exists("/s/job"), "job reaped", 20_000);
      await cg.runIn("/s/fail", "exec true");
      await waitFor(() => !cg.exists("/s/fail"), "fail reaped", 20_000);
      child.kill("SIGHUP");
      await waitFor(() => out.lines.includes("reload called"), "reload output");

      child.kill("SIGTERM");
      const status = await child.status;
      await Promise.all([out.done, err.done]);
      child = null;
      assertEquals(status.code, 0, err.lines.join("\n"));

      const jobLine = out.lines.find((l) => l.startsWith("path=/s/job "));
      assert(jobLine !== undefined, out.lines.join("\n"));
      const f = fields(jobLine);
      assertEquals(f["xattr.account"], "abc");
      assertEquals(f["parent.path"], "/s");
      assertEquals(f["parent.xattr.account"], "scope-acct");
      assertEquals(f["parent.parent"], "nil");

      const stats = err.lines.find((l) => l.startsWith("job:"));
      assert(stats !== undefined, err.lines.join("\n"));
      // since= appears exactly when the kernel reports btime
      assertEquals(stats.includes(" since="), f.btime !== "nil", stats);
      assertEquals(f.age === "nil", f.btime === "nil");
      const cpu = statsCpu(stats);
      if (cpu === null) {
        assertEquals(f.cpu_total, "nil");
      } else {
        assert(Math.abs(Number(f.cpu_total) - cpu[0]) <= 0.051, `${f.cpu_total} vs ${stats}`);
        if (cpu.length === 3) {
          assert(Math.abs(Number(f.cpu_user) - cpu[1]) <= 0.051, `${f.cpu_user} vs ${stats}`);
          assert(Math.abs(Number(f.cpu_system) - cpu[2]) <= 0.051, `${f.cpu_system} vs ${stats}`);
        }
      }
      const mem = stats.match(/ memory=(\d+)M/);
      if (mem === null) assertEquals(f.memory_peak, "nil");
      else assertEquals(Math.floor((Number(f.memory_peak) + 524287) / 1048576), Number(mem[1]));
      const procs = stats.match(/ procs=(\d+)/);
      assertEquals(f.pids_peak, procs === null ? "nil" : procs[1]);

      // the failing handler: one error line, and the daemon kept going (reload ran later)
      const failures = err.lines.filter((l) => l.includes("handler failed for /s/fail"));
      assertEquals(failures.length, 1, err.lines.join("\n"));
      assertMatch(failures[0], /reaper\.lua:\d+: handler failed for \/s\/fail$/);
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
        await child.stdout.cancel().catch(() => {});
        await child.stderr.cancel().catch(() => {});
      }
      close(notifyFd);
      await cg.cleanup();
      await Deno.remove(scriptDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "--simulate runs the handler once on a real cgroup (exit 1 if it raised); --check-lua",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const scriptDir = await Deno.makeTempDir({ prefix: "lua-e2e-" });
    try {
      const script = `${scriptDir}/reaper.lua`;
      await Deno.writeTextFile(script, PRINT_ALL);
      cg.mkdir("/s/sim");
      cg.mkdir("/s/sim-fail");
      setXattr(cg.abs("/s/sim"), "user.account", "simacct");
      await cg.runIn("/s/sim", "exec true");
      const ok = await runReaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/s",
        "--lua",
        script,
        "--simulate",
        "/s/sim",
      ]);
      assertEquals(ok.code, 0, ok.stderr);
      const f = fields(ok.stdout.trim());
      assertEquals([f.path, f["xattr.account"], f["parent.path"]], ["/s/sim", "simacct", "/s"]);
      assert(cg.exists("/s/sim"), "nothing deleted");

      const bad = await runReaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/s",
        "--lua",
        script,
        "--simulate",
        "/s/sim-fail",
      ]);
      assertEquals(bad.code, 1, bad.stderr);
      assertMatch(bad.stderr, /handler failed for \/s\/sim-fail/);

      const good = await runReaper(["--check-lua", script]);
      assertEquals(good.code, 0, good.stderr);
      assertMatch(good.stdout, /cgroup_released is defined/);
      await Deno.writeTextFile(script, "function cgroup_released(\n");
      const syntax = await runReaper(["--check-lua", script]);
      assertEquals(syntax.code, 1);
      assertMatch(syntax.stderr, new RegExp(`${script.replaceAll("/", "\\/")}:2: `));
      await Deno.writeTextFile(script, "cgroup_released = 5");
      const notFn = await runReaper([
        "--lua",
        script,
        "--cgroup-root",
        cg.path,
        "--simulate",
        "/s/sim",
      ]);
      assertEquals(notFn.code, 1);
      assertMatch(notFn.stderr, /'cgroup_released' is not a function/);
    } finally {
      await cg.cleanup();
      await Deno.remove(scriptDir, { recursive: true });
    }
  },
});
