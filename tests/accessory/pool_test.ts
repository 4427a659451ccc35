// Integration (root), issue 12: namespaces made ahead of demand and off the
// event loop. Behaviour only: a slow build is made through the daemon's test
// seam (a gate file the factory waits for), never with timing.
import { assert, assertEquals, assertMatch, assertNotEquals } from "../assert.ts";
import {
  AccessoryConnection,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  type Namespaces,
} from "../../shared/client.ts";
import { fstat } from "../../ffi/fd.ts";
import { MessageReceiver } from "../../ffi/socket_message.ts";
import { FACTORY_COMM, POOL_INIT_COMM, USER_HELPER_COMM } from "../../accessory/helper_programs.ts";
import { initProcessName } from "../../accessory/init_name.ts";
import { BUILD_GATE_VARIABLE } from "../../accessory/namespace_factory.ts";
import {
  alive,
  childrenOf,
  comm,
  Daemon,
  initExecutable,
  initOf,
  PERL_FACTORY,
  POOL_PROGRAM,
  runtimeDirectoryOf,
  waitFor,
} from "./harness.ts";

const ino = (fd: number) => fstat(fd).ino;
const MSG_DONTWAIT = 0x40;

/** The pool's processes: the factory, its helpers, prepared inits not yet assigned. */
function poolProcesses(d: Daemon): number[] {
  const pids: number[] = [];
  for (const [pid, c] of d.children()) {
    if (c === POOL_INIT_COMM) pids.push(pid);
    if (c === FACTORY_COMM) {
      pids.push(pid);
      for (const [helper, hc] of childrenOf(pid)) if (hc === USER_HELPER_COMM) pids.push(helper);
    }
  }
  return pids;
}

/** True if a response is waiting on fd (without taking it). */
function answered(fd: number): boolean {
  const MSG_PEEK = 0x2;
  return new MessageReceiver(8).receive(fd, new Uint8Array(64), MSG_DONTWAIT | MSG_PEEK) !== null;
}

for (const poolSize of ["0", "4"]) {
  Deno.test(`pool size ${poolSize}: concurrent new names on several connections all succeed, named and distinct`, async () => {
    const d = await Daemon.start(["--pool-size", poolSize]);
    const got: Namespaces[] = [];
    try {
      const connections = Array.from({ length: 6 }, () => new AccessoryConnection(d.address));
      const requests = connections.map((_, c) =>
        Array.from({ length: 5 }, (_, i) =>
          namespaceRequest(
            `conc-${c}-${i}`,
            i % 2 === 0 ? { ipc: true, pid: true } : { pid: true, uidMap: `0 ${c * 10 + i} 1\n` },
          ))
      );
      // Everything is sent before anything is read: all are in flight at once.
      connections.forEach((c, i) => requests[i].forEach((r) => c.send(r)));
      connections.forEach((c, i) => requests[i].forEach((r) => got.push(c.receive(r))));
      for (const c of connections) c.close();
      const pidNamespaces = new Set(got.map((n) => ino(n.pid!)));
      assertEquals(pidNamespaces.size, got.length, "every name has its own PID namespace");
      for (const [k, ns] of got.entries()) {
        const name = `conc-${Math.floor(k / 5)}-${k % 5}`;
        const init = initOf(ns.pid!, d.children().keys());
        assert(init !== null, `no init for ${name}`);
        assertEquals(comm(init), initProcessName(name));
      }
      const users = got.filter((n) => n.user !== undefined).map((n) => ino(n.user!));
      assertEquals(users.length, 12);
      assertEquals(new Set(users).size, users.length, "every name has its own user namespace");
    } finally {
      for (const n of got) closeNamespaces(n);
      const { code, log } = await d.stop();
      assertEquals(code, 0, log);
    }
  });
}

Deno.test("a cached request is answered while another connection's new name is still being built", async () => {
  const dir = Deno.makeTempDirSync();
  const gate = `${dir}/gate`;
  Deno.writeTextFileSync(gate, ""); // open
  const d = await Daemon.start(["--pool-size", "0"], { [BUILD_GATE_VARIABLE]: gate });
  const slow = new AccessoryConnection(d.address);
  try {
    const warm = { socket: d.address, ipc: true, pid: true, uidMap: "0 0 1\n" };
    closeNamespaces(makeNamespaces("cached", warm));
    Deno.removeSync(gate); // closed: every build waits from now on
    const slowRequest = namespaceRequest("slow", { ipc: true, pid: true });
    const userRequest = namespaceRequest("slow", { uidMap: "0 1 1\n" });
    const behind = namespaceRequest("cached", { ipc: true, pid: true });
    slow.send(slowRequest);
    slow.send(userRequest);
    slow.send(behind); // cached, but behind the slow ones on the same connection
    // Other connections are served meanwhile, existing names and all.
    for (let i = 0; i < 3; i++) closeNamespaces(makeNamespaces("cached", warm));
    assert(!answered(slow.fd), "the slow connection was answered before its build finished");
    Deno.writeTextFileSync(gate, ""); // open: the builds go on
    // Answers come in request order.
    const a = slow.receive(slowRequest);
    const b = slow.receive(userRequest);
    const c = slow.receive(behind);
    try {
      const init = initOf(a.pid!, d.children().keys());
      assert(init !== null);
      assertEquals(comm(init), "init-slow");
      assertNotEquals(ino(a.pid!), ino(c.pid!));
    } finally {
      for (const n of [a, b, c]) closeNamespaces(n);
    }
  } finally {
    slow.close();
    const { code, log } = await d.stop();
    Deno.removeSync(dir, { recursive: true });
    assertEquals(code, 0, log);
  }
});

Deno.test("a name that has an IPC namespace gets a new init living in it", async () => {
  const d = await Daemon.start();
  try {
    const ipcOnly = makeNamespaces("ipc-first", { socket: d.address, ipc: true });
    const both = makeNamespaces("ipc-first", { socket: d.address, ipc: true, pid: true });
    try {
      assertEquals(ino(both.ipc!), ino(ipcOnly.ipc!));
      const init = initOf(both.pid!, d.children().keys())!;
      assertEquals(comm(init), "init-ipc-first");
      const ipcOfInit = Deno.readLinkSync(`/proc/${init}/ns/ipc`);
      assertEquals(ipcOfInit, Deno.readLinkSync(`/proc/self/fd/${ipcOnly.ipc}`));
    } finally {
      closeNamespaces(ipcOnly);
      closeNamespaces(both);
    }
  } finally {
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("what the pool made ahead is gone after a clean stop", async () => {
  const d = await Daemon.start(["--pool-size", "3"]);
  let pool: number[] = [];
  let init = 0;
  try {
    const ns = makeNamespaces("used", { socket: d.address, pid: true, uidMap: "0 0 1\n" });
    init = initOf(ns.pid!, d.children().keys())!;
    closeNamespaces(ns);
    // Factory, 3 prepared inits and 3 user namespace helpers once refilled.
    assert(await waitFor(() => (pool = poolProcesses(d)).length === 7), `pool: ${pool}`);
  } finally {
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
  for (const pid of [...pool, init]) assert(!alive(pid), `process ${pid} survived the stop`);
});

for (const perl of [false, true]) {
  // A daemon with the pool program adopts what the perl factory made too (an upgrade).
  const made = perl ? "made by the perl factory" : "made by the pool program";
  Deno.test(`killed with SIGKILL: the pool dies with it, handed-out inits live on and are adopted (${made})`, async () => {
    const first = await Daemon.start(["--pool-size", "3"], perl ? PERL_FACTORY : {});
    let pool: number[] = [];
    let init = 0;
    let runtimeDir = "";
    const held = makeNamespaces("kept", { socket: first.address, ipc: true, pid: true });
    try {
      init = initOf(held.pid!, first.children().keys())!;
      // Adoptable once named (perl factory: once its exec of sleep is done, off the critical path).
      assert(await waitFor(() => Deno.readLinkSync(`/proc/${init}/exe`) === initExecutable(perl)));
      runtimeDir = runtimeDirectoryOf(first.pid);
      assert(await waitFor(() => (pool = poolProcesses(first)).length === 7), `pool: ${pool}`);
      await first.stop("SIGKILL");
      // End of file on the daemon's pipes ends everything made ahead.
      for (const pid of pool) {
        assert(
          await waitFor(() => !alive(pid)),
          `pool process ${pid} (${comm(pid)}) outlived the daemon`,
        );
      }
      assert(alive(init), "a handed-out init died with the daemon");
      const second = await Daemon.start([], {}, [], first.address);
      try {
        const again = makeNamespaces("kept", { socket: second.address, ipc: true, pid: true });
        assertEquals(ino(again.pid!), ino(held.pid!), "the restarted daemon adopted the init");
        assertEquals(ino(again.ipc!), ino(held.ipc!));
        closeNamespaces(again);
      } finally {
        const { code, log } = await second.stop();
        assertEquals(code, 0, log);
      }
      assert(!alive(init), "the adopted init survived a clean stop");
    } finally {
      closeNamespaces(held);
      try {
        Deno.kill(init, "SIGKILL");
      } catch {
        // gone, as it should be
      }
      try {
        if (runtimeDir) Deno.removeSync(runtimeDir, { recursive: true });
      } catch (e) {
        // Normally the restarted daemon's clean stop removed it already.
        if (!(e instanceof Deno.errors.NotFound)) console.error(`cleanup: ${e}`);
      }
    }
  });
}

Deno.test("a killed factory is replaced: new names keep coming, nothing is left as a zombie", async () => {
  const d = await Daemon.start(["--pool-size", "2"]);
  const got: Namespaces[] = [];
  try {
    let factory = 0;
    assert(
      await waitFor(() => {
        factory = [...d.children()].find(([, c]) => c === FACTORY_COMM)?.[0] ?? 0;
        return factory !== 0 && poolProcesses(d).length === 5;
      }),
    );
    Deno.kill(factory, "SIGKILL");
    assert(await waitFor(() => !alive(factory)));
    // More than the pool holds: some come from a new factory.
    for (let i = 0; i < 6; i++) {
      got.push(makeNamespaces(`after-${i}`, { socket: d.address, pid: true, uidMap: "0 0 1\n" }));
    }
    const replacement = [...d.children()].find(([, c]) => c === FACTORY_COMM)?.[0];
    assert(replacement !== undefined && replacement !== factory, "no new factory");
    // Helpers of the dead factory died with it and were reaped (the daemon is their subreaper).
    assert(
      await waitFor(() => [...d.children().keys()].every(alive)),
      `zombie children: ${
        [...d.children()].filter(([p]) => !alive(p)).map(([p, c]) => `${p} ${c}`)
      }`,
    );
  } finally {
    for (const n of got) closeNamespaces(n);
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("perl factory: an init's symlink goes once its exec is done, with no request after it; a used user namespace helper is gone", async () => {
  const d = await Daemon.start(["--pool-size", "1"], PERL_FACTORY);
  try {
    const user = makeNamespaces("last-user", {
      socket: d.address,
      pid: true,
      uidMap: "0 0 1\n",
      gidMap: "0 0 1\n",
    });
    let ns: Namespaces | null = null;
    try {
      // The last request: no reply after it looks at its init's exec.
      ns = makeNamespaces("last-one", { socket: d.address, ipc: true, pid: true });
      const init = initOf(ns.pid!, d.children().keys())!;
      assert(await waitFor(() => Deno.readLinkSync(`/proc/${init}/exe`) === "/usr/bin/sleep"));
      const dir = runtimeDirectoryOf(d.pid);
      // Nothing wakes the daemon now: the end of the exec is noticed anyway.
      assert(
        await waitFor(() => [...Deno.readDirSync(dir)].length === 0),
        `left in ${dir}: ${[...Deno.readDirSync(dir)].map((e) => e.name)}`,
      );
      // One helper taken, one made for the pool: the taken one has exited.
      assert(
        await waitFor(() =>
          poolProcesses(d).filter((pid) => comm(pid) === USER_HELPER_COMM).length === 1
        ),
        `user namespace helpers: ${
          poolProcesses(d).filter((pid) => comm(pid) === USER_HELPER_COMM)
        }`,
      );
    } finally {
      if (ns) closeNamespaces(ns);
      closeNamespaces(user);
    }
  } finally {
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test({
  name: "a kernel that refuses to execute memfds (vm.memfd_noexec=2): the perl factory takes over",
  ignore: !POOL_PROGRAM,
  fn: async () => {
    // memfd_noexec is per PID namespace: set in a new one, for this daemon only.
    const d = await Daemon.start([], {}, [
      "unshare",
      "--pid",
      "--fork",
      "--kill-child=SIGTERM",
      "--mount-proc",
      "sh",
      "-c",
      'echo 2 > /proc/sys/vm/memfd_noexec && exec "$0" "$@"',
    ]);
    let log = "", code = -1;
    try {
      const ns = makeNamespaces("noexec", { socket: d.address, ipc: true, pid: true });
      const user = makeNamespaces("noexec-user", { socket: d.address, uidMap: "0 0 1\n" });
      closeNamespaces(ns);
      closeNamespaces(user);
    } finally {
      // unshare --fork ignores SIGTERM: stop the daemon itself (its child, PID 1 inside).
      const [daemon] = childrenOf(d.pid).keys();
      if (daemon !== undefined) Deno.kill(daemon, "SIGTERM");
      ({ log, code } = await d.stop(daemon !== undefined ? "SIGCONT" : "SIGKILL"));
    }
    assertEquals(code, 0, log);
    assertMatch(log, /cannot start the pool program: .*; using the perl factory/);
    assertMatch(log, /"noexec": new PID namespace/);
  },
});

Deno.test("user namespaces alone (no new PID namespace) are replaced in the pool too", async () => {
  const d = await Daemon.start(["--pool-size", "2"]);
  const got: Namespaces[] = [];
  const helpers = () => poolProcesses(d).filter((pid) => comm(pid) === USER_HELPER_COMM).length;
  try {
    assert(await waitFor(() => helpers() === 2), `helpers: ${helpers()}`);
    for (let i = 0; i < 3; i++) {
      got.push(makeNamespaces("users-only", { socket: d.address, uidMap: `0 ${i} 1\n` }));
    }
    // Three taken from a pool of two: the pool is full again afterwards.
    assert(await waitFor(() => helpers() === 2), `helpers after the requests: ${helpers()}`);
  } finally {
    for (const n of got) closeNamespaces(n);
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});
