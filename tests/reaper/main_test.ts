// cm4all-spawn-reaper as a program: READY=1, stats lines on stderr, SIGTERM,
// --simulate, command-line errors. Root and a cgroup2 mount needed.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { bind, SOCK_DGRAM, unixSocket } from "../../ffi/socket.ts";
import { close, read } from "../../ffi/fd.ts";
import { CANNOT_RUN, sleep, TestCgroupRoot, waitFor } from "./cgroup_fixture.ts";
import { collectLines } from "../child_lines.ts";
import { runReaper } from "./reaper_process.ts";

const DENO = Deno.execPath();
const MAIN = new URL("../../reaper/main.ts", import.meta.url).pathname;
const NO_SCRIPT = "/nonexistent/spawn-test-reaper.lua";

Deno.test({
  name: "daemon: READY=1, a stats line per reaped cgroup on stderr, SIGTERM stops it",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const notifyName = `@spawn-test-notify-${crypto.randomUUID().slice(0, 8)}`;
    const notifyFd = unixSocket(SOCK_DGRAM);
    let child: Deno.ChildProcess | null = null;
    let err: { lines: string[]; done: Promise<void> } | null = null;
    try {
      bind(notifyFd, notifyName);
      cg.mkdir("/scope.a/empty-at-start");
      child = new Deno.Command(DENO, {
        args: [
          "run",
          "-A",
          MAIN,
          "--cgroup-root",
          cg.path,
          "--scope",
          "/scope.a",
          "--scope",
          "/scope.b/x",
        ],
        env: { NOTIFY_SOCKET: notifyName },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      err = collectLines(child.stderr);
      const buf = new Uint8Array(256);
      let ready = "";
      await waitFor(() => {
        const n = read(notifyFd, buf);
        if (n !== null) ready = new TextDecoder().decode(buf.subarray(0, n));
        return n !== null;
      }, "READY=1");
      assertEquals(ready, "READY=1");
      await waitFor(() => !cg.exists("/scope.a/empty-at-start"), "the start-up reap");

      child.kill("SIGHUP"); // reload: no script, nothing to do, but not fatal
      await sleep(100);
      cg.mkdir("/scope.a/job");
      cg.mkdir("/scope.b/x/deep/er");
      await sleep(50);
      await cg.runIn("/scope.a/job", "exec true");
      await cg.runIn("/scope.b/x/deep/er", "exec true");
      await waitFor(() => !cg.exists("/scope.a/job"), "job removed");
      await waitFor(() => !cg.exists("/scope.b/x/deep"), "deep removed");
      assert(cg.exists("/scope.b/x"), "scope kept");

      child.kill("SIGTERM");
      const status = await child.status;
      await err.done;
      assertEquals(status.code, 0);
      child = null;
      const stats = err.lines.filter((l) => /^[\w./-]+: (since=|cpu=)/.test(l));
      assertEquals(stats.map((l) => l.split(":")[0]), ["empty-at-start", "job", "deep/er", "deep"]);
      for (const l of stats) assertMatch(l, /^\S+: cpu=\d+\.\ds\/\d+\.\ds\/\d+\.\ds(\[\d+%\])?$/);
      assert(err.lines.some((l) => l.includes("running without Lua")), err.lines.join("\n"));
    } catch (error) {
      throw new Error(`${error}\ndaemon stderr:\n${err?.lines.join("\n")}`);
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        await child.status;
        await err?.done;
      }
      close(notifyFd);
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "--simulate prints the stats line and deletes nothing",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    try {
      cg.mkdir("/s/sim");
      await cg.runIn("/s/sim", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
      const r = await runReaper(["--cgroup-root", cg.path, "--scope", "/s", "--simulate", "s/sim"]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /^sim: cpu=\d+\.\ds\/\d+\.\ds\/\d+\.\ds/m);
      assert(cg.exists("/s/sim"), "nothing deleted");
      const missing = await runReaper(["--cgroup-root", cg.path, "--simulate", "/s/nope"]);
      assertEquals(missing.code, 1);
      assertMatch(missing.stderr, /--simulate \/s\/nope/);
    } finally {
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "command-line errors: exit 2 for usage, 1 for a missing explicit script or root",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    try {
      const badScope = await runReaper(["--cgroup-root", cg.path, "--scope", "/a/../b"]);
      assertEquals(badScope.code, 2);
      assertMatch(badScope.stderr, /--scope '\/a\/\.\.\/b'/);
      const rootScope = await runReaper(["--cgroup-root", cg.path, "--scope", "/"]);
      assertEquals(rootScope.code, 2);
      const budget = await runReaper(["--lua-budget", "0"]);
      assertEquals(budget.code, 2);
      assertMatch(budget.stderr, /--lua-budget/);
      const script = await runReaper(["--cgroup-root", cg.path, "--lua", NO_SCRIPT]);
      assertEquals(script.code, 1);
      assertMatch(script.stderr, /--lua \/nonexistent\/spawn-test-reaper\.lua: no such file/);
      const root = await runReaper(["--cgroup-root", cg.path + "/missing"]);
      assertEquals(root.code, 1);
      assertMatch(root.stderr, /--cgroup-root/);
      const check = await runReaper(["--check-lua", NO_SCRIPT]);
      assertEquals(check.code, 1, "a missing script is not usable");
      const help = await runReaper(["--help"]);
      assertEquals(help.code, 0);
      for (const option of ["--cgroup-root", "--scope", "--lua", "--check-lua", "--simulate"]) {
        assert(help.stdout.includes(option), `--help mentions ${option}`);
      }
    } finally {
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "with --lua: cgroup_released per reap (stdout), SIGHUP runs reload, --simulate exit status",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const dir = Deno.makeTempDirSync({ prefix: "spawn-test-reaper-" });
    const script = `${dir}/reaper.lua`;
    Deno.writeTextFileSync(
      script,
      `count = 0
function cgroup_released(cgroup)
  count = count + 1
  print("released " .. cgroup.path .. " " .. tostring(cgroup.cpu_total ~= nil))
  if cgroup.path:find("bad") then error("boom") end
end
function reload() print("reload " .. count) end
`,
    );
    let child: Deno.ChildProcess | null = null;
    try {
      cg.mkdir("/s");
      child = new Deno.Command(DENO, {
        args: ["run", "-A", MAIN, "--cgroup-root", cg.path, "--scope", "/s", "--lua", script],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = collectLines(child.stdout);
      const err = collectLines(child.stderr);
      await waitFor(() => err.lines.some((l) => l.startsWith("watching")), "start-up");
      cg.mkdir("/s/job");
      cg.mkdir("/s/bad");
      await sleep(50);
      await cg.runIn("/s/job");
      await cg.runIn("/s/bad");
      await waitFor(() => !cg.exists("/s/job") && !cg.exists("/s/bad"), "both removed");
      child.kill("SIGHUP");
      await waitFor(() => out.lines.includes("reload 2"), "reload output");
      child.kill("SIGTERM");
      assertEquals((await child.status).code, 0);
      child = null;
      await out.done;
      await err.done;
      assertEquals(out.lines.filter((l) => l.startsWith("released")).sort(), [
        "released /s/bad true",
        "released /s/job true",
      ]);
      assert(err.lines.some((l) => l.includes("boom")), "the handler's error is logged");

      cg.mkdir("/s/sim-bad");
      cg.mkdir("/s/sim-ok");
      const bad = await runReaper([
        "--cgroup-root",
        cg.path,
        "--lua",
        script,
        "--simulate",
        "/s/sim-bad",
      ]);
      assertEquals(bad.code, 1, "the handler raised");
      const ok = await runReaper([
        "--cgroup-root",
        cg.path,
        "--lua",
        script,
        "--simulate",
        "/s/sim-ok",
      ]);
      assertEquals(ok.code, 0, ok.stderr);
      assertEquals(ok.stdout, "released /s/sim-ok true\n");
      assert(cg.exists("/s/sim-ok") && cg.exists("/s/sim-bad"), "nothing deleted");
      const check = await runReaper(["--check-lua", script]);
      assertEquals(check.code, 0, check.stderr);
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        await child.status;
      }
      Deno.removeSync(dir, { recursive: true });
      await cg.cleanup();
    }
  },
});
