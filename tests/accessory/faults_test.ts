// Integration (root), issue 7: faults the daemon survives. A killed init, a
// client dying with a lease, the daemon itself killed and restarted (it
// adopts the inits of its predecessor, and reuses its runtime directory).
import { assert, assertEquals, assertMatch, assertNotEquals } from "../assert.ts";
import { closeNamespaces, makeNamespaces } from "../../shared/client.ts";
import { closeQuietly, fstat } from "../../ffi/fd.ts";
import { claimRuntimeDirectory, runtimeDirectoryName } from "../../accessory/runtime_directory.ts";
import {
  alive,
  Daemon,
  DENO,
  fdKind,
  initOf,
  runtimeDirectoryOf,
  sleep,
  uniqueAddress,
  waitFor,
} from "./harness.ts";

const LEASE_HOLDER = new URL("./lease_holder.ts", import.meta.url).pathname;
const ino = (fd: number) => fstat(fd).ino;

Deno.test("an init killed while clients hold its fds: they stay valid, the next request gets a fresh namespace", async () => {
  const d = await Daemon.start();
  try {
    const held = makeNamespaces("victim", { socket: d.address, ipc: true, pid: true });
    const init = initOf(held.pid!, d.children().keys())!;
    const [ipcIno, pidIno] = [ino(held.ipc!), ino(held.pid!)];
    Deno.kill(init, "SIGKILL");
    assert(await waitFor(() => !alive(init)), "init survived SIGKILL");
    await sleep(100);
    const fresh = makeNamespaces("victim", { socket: d.address, ipc: true, pid: true });
    try {
      assertNotEquals(ino(fresh.pid!), pidIno, "a fresh PID namespace");
      assertEquals(ino(fresh.ipc!), ipcIno, "the IPC namespace does not depend on the init");
      // The fds held across the fault still refer to the old namespaces.
      assertEquals(ino(held.pid!), pidIno);
      assertMatch(fdKind(held.pid!), /^pid:\[\d+\]$/);
      assertEquals(ino(held.ipc!), ipcIno);
    } finally {
      closeNamespaces(fresh);
      closeNamespaces(held);
    }
  } finally {
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
    assertMatch(log, /"victim": init pid \d+ exited; forgetting it/);
  }
});

Deno.test("a client that dies holding a lease releases it: the TTL starts, the name expires", async () => {
  const d = await Daemon.start(["--namespace-ttl", "1"]);
  const holder = new Deno.Command(DENO, {
    args: ["run", "-A", LEASE_HOLDER, d.address, "leased"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    const first = await reader.read();
    assertEquals(new TextDecoder().decode(first.value).trim(), "held");
    reader.releaseLock();
    const [init] = d.inits().keys();
    await sleep(2000); // twice the TTL: the lease keeps the name
    assert(alive(init), "the leased name expired");
    holder.kill("SIGKILL");
    await holder.status;
    assert(await waitFor(() => !alive(init), 5000), "the name outlived its dead client's lease");
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch {
      // gone already
    }
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("killed with SIGKILL and restarted, the daemon adopts its inits: same namespaces, processes keep running", async () => {
  const address = uniqueAddress();
  const first = await Daemon.start([], {}, [], address);
  const ns = makeNamespaces("adopted", { socket: address, ipc: true, pid: true });
  const [ipcIno, pidIno] = [ino(ns.ipc!), ino(ns.pid!)];
  const init = initOf(ns.pid!, first.children().keys())!;
  // Issue 14: an init name ending in a space is adopted too (exact comm).
  const spaced = makeNamespaces("abcdefghi ", { socket: address, pid: true });
  const spacedIno = ino(spaced.pid!);
  const spacedInit = initOf(spaced.pid!, first.children().keys())!;
  closeNamespaces(spaced);
  const runtimeDir = runtimeDirectoryOf(first.pid);
  // A customer process inside the PID namespace.
  const customer = new Deno.Command("nsenter", {
    args: ["--target", String(init), "--pid", "--", "sleep", "1000"],
    stdin: "null",
  }).spawn();
  let other: Daemon | null = null;
  let second: Daemon | null = null;
  try {
    closeNamespaces(ns);
    await sleep(200);
    await first.stop("SIGKILL");
    await sleep(100);
    assert(alive(init), "the init died with the daemon");

    // A daemon of another instance (address) leaves them alone.
    other = await Daemon.start();
    const otherLog = await other.stop();
    other = null;
    assert(!/adopted/.test(otherLog.log), otherLog.log);
    assert(alive(init));

    second = await Daemon.start([], {}, [], address);
    const again = makeNamespaces("adopted", { socket: address, ipc: true, pid: true });
    try {
      assertEquals(ino(again.pid!), pidIno, "the name maps to its old PID namespace");
      assertEquals(ino(again.ipc!), ipcIno, "... and to its old IPC namespace (the init's)");
    } finally {
      closeNamespaces(again);
    }
    const spacedAgain = makeNamespaces("abcdefghi ", { socket: address, pid: true });
    try {
      assertEquals(ino(spacedAgain.pid!), spacedIno, "a trailing space in the comm is kept");
    } finally {
      closeNamespaces(spacedAgain);
    }
    assert(alive(init) && alive(customer.pid), "adoption disturbed the namespace");
    const { code, log } = await second.stop();
    second = null;
    assertEquals(code, 0, log);
    assertMatch(log, new RegExp(`"adopted": adopted init pid ${init} of a previous run`));
    // Issue 14: the killed run's directory was taken over, and a clean stop removes it.
    assert(log.includes(`reusing ${runtimeDir}, left over by an earlier run`), log);
    assert(!exists(runtimeDir), `${runtimeDir} left behind`);
    // A clean stop ends the adopted init too, and with it its namespace.
    assert(await waitFor(() => !alive(init), 5000), "the adopted init survived a clean stop");
    assert(await waitFor(() => !alive(customer.pid), 5000));
  } finally {
    await other?.stop();
    await second?.stop();
    for (const pid of [init, spacedInit, customer.pid]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await customer.status;
    if (exists(runtimeDir)) Deno.removeSync(runtimeDir, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("runtime directory: a leftover is emptied and reused; one in use or not private is not (issue 14)", () => {
  const base = Deno.makeTempDirSync({ prefix: "runtime-base-" });
  const locks: number[] = [];
  try {
    const first = claimRuntimeDirectory(base, "@instance");
    locks.push(first.lock);
    assertEquals(first.path, `${base}/${runtimeDirectoryName("@instance")}`);
    assertEquals(first.reused, false);
    Deno.symlinkSync("/usr/bin/sleep", `${first.path}/init-stale`);
    // A live daemon holds it: another claim gets a fresh directory.
    const second = claimRuntimeDirectory(base, "@instance");
    locks.push(second.lock);
    assertNotEquals(second.path, first.path);
    // Killed (its lock gone): the next start takes it over, emptied.
    closeQuietly(locks.shift()!);
    const third = claimRuntimeDirectory(base, "@instance");
    locks.push(third.lock);
    assertEquals([third.path, third.reused], [first.path, true]);
    assertEquals([...Deno.readDirSync(third.path)].length, 0);
    // Someone else's directory under that name is never used.
    const other = `${base}/${runtimeDirectoryName("@other")}`;
    Deno.mkdirSync(other, { mode: 0o700 });
    Deno.chownSync(other, 65534, 65534);
    const fourth = claimRuntimeDirectory(base, "@other");
    locks.push(fourth.lock);
    assertNotEquals(fourth.path, other);
  } finally {
    locks.forEach(closeQuietly);
    Deno.removeSync(base, { recursive: true });
  }
});
