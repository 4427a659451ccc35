// A NOTIFY_SOCKET that cannot be reached (a supervisor that is gone, a stale
// environment) is logged once and never stops a daemon: like sd_notify(3).
// Before, the accessory died at READY=1 with an uncaught SysError, after it
// had bound its socket and made its runtime directory (both left behind).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { collectLines } from "../child_lines.ts";
import { closeNamespaces, makeNamespaces } from "../../shared/client.ts";
import { notify } from "../../shared/systemd.ts";
import { exists } from "../../packaging/exists.ts";
import { alive, DAEMON, DENO, runtimeDirectoryOf, uniqueAddress } from "../accessory/harness.ts";
import { CANNOT_RUN, TestCgroupRoot, waitFor } from "../reaper/cgroup_fixture.ts";

const REAPER = new URL("../../reaper/main.ts", import.meta.url).pathname;
const nowhere = () => `@spawn-test-nowhere-${crypto.randomUUID().slice(0, 8)}`;
const WARNING =
  /^cannot notify the service manager \(NOTIFY_SOCKET=@spawn-test-nowhere-\w+\): connect\(@spawn-test-nowhere-\w+\): Connection refused \(ECONNREFUSED\); running on without it$/;

Deno.test("notify: an unreachable socket returns false, it does not throw", () => {
  const saved = Deno.env.get("NOTIFY_SOCKET");
  try {
    Deno.env.set("NOTIFY_SOCKET", nowhere());
    assertEquals(notify("READY=1"), false);
    Deno.env.set("NOTIFY_SOCKET", "/nonexistent/notify");
    assertEquals(notify("STATUS=x"), false);
    Deno.env.delete("NOTIFY_SOCKET");
    assertEquals(notify("READY=1"), false);
  } finally {
    if (saved === undefined) Deno.env.delete("NOTIFY_SOCKET");
    else Deno.env.set("NOTIFY_SOCKET", saved);
  }
});

/**
 * A daemon (deno run -A script args) with NOTIFY_SOCKET nowhere: runs `body`
 * once it has logged the warning, then stops it with SIGTERM and checks that
 * it exited 0 having warned once. Killed if anything fails.
 */
async function withoutNotifySocket(
  script: string,
  args: string[],
  body: (child: Deno.ChildProcess) => Promise<void>,
): Promise<string[]> {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", script, ...args],
    env: { NOTIFY_SOCKET: nowhere() },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = collectLines(child.stderr);
  let stopped = false;
  try {
    await waitFor(() => err.lines.some((l) => WARNING.test(l)), "the warning");
    await body(child);
    assert(alive(child.pid), "the daemon died");
    child.kill("SIGTERM");
    const status = await child.status;
    stopped = true;
    await err.done;
    assertEquals(status.code, 0, err.lines.join("\n"));
    assertEquals(err.lines.filter((l) => l.startsWith("cannot notify")).length, 1);
    assertEquals(err.lines.filter((l) => /Uncaught|error:/i.test(l)), []);
    return err.lines;
  } finally {
    if (!stopped) {
      try {
        child.kill("SIGKILL");
      } catch { /* it died by itself (before the fix: at READY=1) */ }
      await child.status;
      await err.done;
    }
  }
}

Deno.test("accessory: an unreachable NOTIFY_SOCKET is logged once; it serves on and stops cleanly", async () => {
  const address = uniqueAddress();
  const dir = Deno.makeTempDirSync({ prefix: "spawn-test-notify-" });
  const control = `${dir}/control`;
  let runtime = "";
  try {
    await withoutNotifySocket(DAEMON, ["--listen", address, "--control", control], (child) => {
      // Still serving after READY=1 failed: a new name and its namespaces.
      const namespaces = makeNamespaces("notify-test", { socket: address, ipc: true, pid: true });
      assert(namespaces.pid !== null && namespaces.ipc !== null);
      closeNamespaces(namespaces);
      runtime = runtimeDirectoryOf(child.pid);
      return Promise.resolve();
    });
    assertEquals([runtime, control].filter(exists), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "reaper: an unreachable NOTIFY_SOCKET is logged once; it reaps on and stops cleanly",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    try {
      cg.mkdir("/scope.a");
      const args = ["--cgroup-root", cg.path, "--scope", "/scope.a"];
      const lines = await withoutNotifySocket(REAPER, args, async () => {
        cg.mkdir("/scope.a/job");
        await cg.runIn("/scope.a/job", "exec true");
        await waitFor(() => !cg.exists("/scope.a/job"), "the job's cgroup reaped");
      });
      assertMatch(lines.join("\n"), /^job: cpu=/m);
    } finally {
      await cg.cleanup();
    }
  },
});
