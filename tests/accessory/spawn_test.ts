// ffi/spawn.ts (used for the inits): posix_spawn and pidfd reaping.
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { reap, spawnProcess } from "../../ffi/spawn.ts";
import { pidfdOpen, SIGNALS, withSignalIgnored } from "../../ffi/process.ts";
import { closeQuietly } from "../../ffi/fd.ts";

function run(path: string, argv: string[], options = {}) {
  const pid = spawnProcess(path, { argv, ...options });
  const pidfd = pidfdOpen(pid);
  try {
    return { pid, status: reap(pidfd, true) };
  } finally {
    closeQuietly(pidfd);
  }
}

Deno.test("spawnProcess: exit codes and signals come back through reap()", () => {
  assertEquals(run("/bin/sh", ["sh", "-c", "exit 3"]).status, { code: 3, signal: null });
  assertEquals(run("/bin/sh", ["sh", "-c", "kill -9 $$"]).status, { code: null, signal: 9 });
});

Deno.test("spawnProcess: empty environment, /dev/null stdio, cwd", () => {
  const out = Deno.makeTempFileSync();
  try {
    const script = `{ env | wc -l; pwd; readlink /proc/self/fd/0 /proc/self/fd/2; } > ${out}`;
    assertEquals(run("/bin/sh", ["sh", "-c", script], { cwd: "/tmp" }).status, {
      code: 0,
      signal: null,
    });
    const [envLines, cwd, stdin, stderr] = Deno.readTextFileSync(out).trim().split("\n");
    // dash exports PWD (and maybe OLDPWD) itself; nothing comes from us.
    assert(Number(envLines) <= 2, `environment has ${envLines} lines`);
    assertEquals(cwd, "/tmp");
    assertEquals(stdin, "/dev/null");
    assertEquals(stderr, "/dev/null");
  } finally {
    Deno.removeSync(out);
  }
});

Deno.test("spawnProcess: an ignored SIGCHLD is inherited, defaultSignals are reset", () => {
  // Deno ignores SIGPIPE; the child gets it back at its default.
  const own = Deno.readTextFileSync("/proc/self/status").match(/SigIgn:\s+(\w+)/)![1];
  assert((BigInt("0x" + own) & 0x1000n) !== 0n, `expected Deno to ignore SIGPIPE: ${own}`);
  const pid = withSignalIgnored(
    SIGNALS.SIGCHLD,
    () => spawnProcess("/bin/sleep", { argv: ["sleep", "10"], defaultSignals: [13] }),
  );
  const pidfd = pidfdOpen(pid);
  try {
    const line = Deno.readTextFileSync(`/proc/${pid}/status`).match(/SigIgn:\s+(\w+)/)![1];
    const ignored = BigInt("0x" + line);
    assert((ignored & 0x10000n) !== 0n, `SIGCHLD not ignored: ${line}`);
    assert((ignored & 0x1000n) === 0n, `SIGPIPE still ignored: ${line}`);
  } finally {
    Deno.kill(pid, "SIGKILL");
    reap(pidfd, true);
    closeQuietly(pidfd);
  }
});

Deno.test("spawnProcess: a missing program is an error naming it; reap of a running child is null", () => {
  assertThrows(
    () => spawnProcess("/nonexistent/prog", { argv: ["x"] }),
    /posix_spawn\(\/nonexistent\/prog\)/,
  );
  const pid = spawnProcess("/bin/sleep", { argv: ["sleep", "10"] });
  const pidfd = pidfdOpen(pid);
  try {
    assertEquals(reap(pidfd), null);
    Deno.kill(pid, "SIGKILL");
    assertEquals(reap(pidfd, true), { code: null, signal: 9 });
    assertMatch(String(reap(pidfd)), /null/); // already reaped: ECHILD -> null
  } finally {
    closeQuietly(pidfd);
  }
});
