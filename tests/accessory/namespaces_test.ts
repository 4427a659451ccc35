// Integration (root): namespaces handed out by a daemon subprocess.
import { assert, assertEquals, assertMatch, assertNotEquals } from "../assert.ts";
import {
  AccessoryConnection,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  type Namespaces,
} from "../../shared/client.ts";
import { close, closeQuietly, fstat } from "../../ffi/fd.ts";
import { openNamespace } from "../../ffi/namespace.ts";
import {
  alive,
  childrenOf,
  comm,
  Daemon,
  fdKind,
  initExecutable,
  initOf,
  PERL_FACTORY,
  readProc,
  runtimeDirectoryOf,
  sleep,
  waitFor,
} from "./harness.ts";
import { FACTORY_COMM, POOL_INIT_COMM, USER_HELPER_COMM } from "../../accessory/helper_programs.ts";
import { DEFAULT_POOL } from "../../accessory/namespace_pool.ts";

async function withDaemon(
  args: string[],
  fn: (d: Daemon) => Promise<void> | void,
  env: Record<string, string> = {},
) {
  const daemon = await Daemon.start(args, env);
  try {
    await fn(daemon);
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, `daemon exit status; log:\n${log}`);
  }
}

const ino = (fd: number) => fstat(fd).ino;

Deno.test("fds come back in the order IPC, PID, USER, lease, of the right kinds", async () => {
  await withDaemon([], (d) => {
    const ns = makeNamespaces("kinds", {
      socket: d.address,
      lease: true,
      uidMap: "0 0 1\n",
      pid: true,
      ipc: true,
    });
    try {
      assertMatch(fdKind(ns.ipc!), /^ipc:\[\d+\]$/);
      assertMatch(fdKind(ns.pid!), /^pid:\[\d+\]$/);
      assertMatch(fdKind(ns.user!), /^user:\[\d+\]$/);
      assertMatch(fdKind(ns.lease!), /^pipe:\[\d+\]$/);
      // The lease is the write end (access mode O_WRONLY in fdinfo flags, octal).
      const flags = readProc(`/proc/self/fdinfo/${ns.lease}`)!.match(/flags:\s+(\d+)/)![1];
      assertEquals(parseInt(flags, 8) & 3, 1);
      // None of them is our own namespace.
      assertNotEquals(fdKind(ns.ipc!), Deno.readLinkSync("/proc/self/ns/ipc"));
      assertNotEquals(fdKind(ns.pid!), Deno.readLinkSync("/proc/self/ns/pid"));
      assertNotEquals(fdKind(ns.user!), Deno.readLinkSync("/proc/self/ns/user"));
    } finally {
      closeNamespaces(ns);
    }
    // Only what was asked for.
    const only = makeNamespaces("kinds", { socket: d.address, pid: true });
    assertEquals(Object.keys(only), ["pid"]);
    closeNamespaces(only);
  });
});

Deno.test("same name -> same namespaces; other name -> other namespaces", async () => {
  await withDaemon([], (d) => {
    const opts = { socket: d.address, ipc: true, pid: true, uidMap: "0 0 1\n", gidMap: "0 0 1\n" };
    const a1 = makeNamespaces("alpha", opts);
    const a2 = makeNamespaces("alpha", opts);
    const b = makeNamespaces("beta", opts);
    const otherMaps = makeNamespaces("alpha", { ...opts, uidMap: "0 1 1\n" });
    try {
      assertEquals(ino(a1.ipc!), ino(a2.ipc!));
      assertEquals(ino(a1.pid!), ino(a2.pid!));
      assertEquals(ino(a1.user!), ino(a2.user!), "same maps: the cached user namespace");
      assertNotEquals(ino(a1.ipc!), ino(b.ipc!));
      assertNotEquals(ino(a1.pid!), ino(b.pid!));
      assertNotEquals(ino(a1.user!), ino(b.user!));
      assertNotEquals(ino(a1.user!), ino(otherMaps.user!), "other maps: another user namespace");
      assertEquals(ino(a1.pid!), ino(otherMaps.pid!));
    } finally {
      for (const n of [a1, a2, b, otherMaps]) closeNamespaces(n);
    }
  });
});

for (const perl of [false, true]) {
  const factory = perl ? "perl factory" : "pool program";
  Deno.test(`the init is PID 1 of its namespace, named init-NAME / i-NAME, small, not Deno (${factory})`, async () => {
    await withDaemon([], async (d) => {
      const names: [string, string][] = [
        ["web", "init-web"],
        ["0123456789", "init-0123456789"],
        ["a-longer-name-here", "i-a-longer-name"],
        ["with/slash", "init-with_slash"],
      ];
      for (const [name, expected] of names) {
        const ns = makeNamespaces(name, { socket: d.address, pid: true });
        try {
          const init = initOf(ns.pid!, d.children().keys());
          assert(init !== null, `no child of the daemon is in ${name}'s PID namespace`);
          assertEquals(comm(init), expected);
          // It shows as init-NAME at once; the perl factory's exec of sleep follows off the critical path.
          assert(
            await waitFor(() => Deno.readLinkSync(`/proc/${init}/exe`) === initExecutable(perl)),
          );
          // PID 1 inside: NSpid lists the pid in each namespace, innermost last.
          const nspid = readProc(`/proc/${init}/status`)!.match(/NSpid:\s+(.*)/)![1].split(/\s+/);
          assertEquals(nspid[nspid.length - 1], "1");
          const rss = Number(readProc(`/proc/${init}/status`)!.match(/VmRSS:\s+(\d+)/)![1]);
          assert(rss <= (perl ? 2048 : 64), `init RSS ${rss} kB`);
        } finally {
          closeNamespaces(ns);
        }
      }
    }, perl ? PERL_FACTORY : {});
  });
}

Deno.test("a user namespace shows its maps to a process that joins it", async () => {
  await withDaemon([], async (d) => {
    const ns = makeNamespaces("users", {
      socket: d.address,
      uidMap: "0 1000 1\n1 2000 10\n",
      gidMap: "0 3000 5\n",
    });
    const onlyGid = makeNamespaces("users", { socket: d.address, gidMap: "0 3000 5\n" });
    try {
      const read = async (fd: number, file: string) => {
        const out = await new Deno.Command("nsenter", {
          args: [
            `--user=/proc/${Deno.pid}/fd/${fd}`,
            "--preserve-credentials",
            "cat",
            `/proc/self/${file}`,
          ],
        }).output();
        assert(out.success, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
          l.trim().split(/\s+/).join(" ")
        );
      };
      assertEquals(await read(ns.user!, "uid_map"), ["0 1000 1", "1 2000 10"]);
      assertEquals(await read(ns.user!, "gid_map"), ["0 3000 5"]);
      // An empty part leaves that map unwritten.
      assertEquals(await read(onlyGid.user!, "uid_map"), [""]);
      assertEquals(await read(onlyGid.user!, "gid_map"), ["0 3000 5"]);
    } finally {
      closeNamespaces(ns);
      closeNamespaces(onlyGid);
    }
    // No helper is left behind: besides inits only the pool (at most its size of each kind).
    assert(
      await waitFor(() => {
        const others = [...d.children()].filter(([, c]) => !c.startsWith("init-"));
        const helpers = others.filter(([, c]) => c === FACTORY_COMM)
          .flatMap(([pid]) => [...childrenOf(pid).values()]);
        return others.every(([, c]) => c === POOL_INIT_COMM || c === FACTORY_COMM) &&
          helpers.every((c) => c === USER_HELPER_COMM) &&
          helpers.length <= DEFAULT_POOL.userHelpers;
      }),
    );
  });
});

Deno.test("orphans in a PID namespace are reaped; the init survives signals from inside", async () => {
  await withDaemon([], async (d) => {
    const ns = makeNamespaces("reap", { socket: d.address, pid: true });
    try {
      const init = initOf(ns.pid!, d.children().keys())!;
      // Inside the namespace: orphan 20 short-lived grandchildren, then signal PID 1.
      const script = "for i in $(seq 20); do (sleep 0.1 &); done; " +
        "kill -TERM 1; kill -INT 1; kill -HUP 1; kill -KILL 1; sleep 0.6; " +
        "ps -eo pid,stat,comm --no-headers";
      const out = await new Deno.Command("nsenter", {
        args: [
          `--pid=/proc/${Deno.pid}/fd/${ns.pid}`,
          "--",
          "unshare",
          "--mount",
          "--mount-proc",
          "--fork",
          "--",
          "sh",
          "-c",
          script,
        ],
      }).output(); // deno-fmt-ignore
      const text = new TextDecoder().decode(out.stdout);
      assert(out.success, new TextDecoder().decode(out.stderr));
      const lines = text.trim().split("\n").map((l) => l.trim().split(/\s+/));
      assertEquals(lines.filter((l) => l[1].startsWith("Z")), [], `zombies:\n${text}`);
      assertEquals(lines.find((l) => l[0] === "1")?.[2], "init-reap");
      assert(alive(init), "the init died of a signal from inside");
    } finally {
      closeNamespaces(ns);
    }
  });
});

Deno.test("the lease keeps a name; closing it starts the TTL; expiry kills the init", async () => {
  await withDaemon(["--namespace-ttl", "0.3"], async (d) => {
    const leased = makeNamespaces("leased", { socket: d.address, pid: true, lease: true });
    const plain = makeNamespaces("plain", { socket: d.address, pid: true, ipc: true });
    const leasedInit = initOf(leased.pid!, d.children().keys())!;
    const plainInit = initOf(plain.pid!, d.children().keys())!;
    try {
      assert(await waitFor(() => !alive(plainInit), 10_000), "unleased name did not expire");
      assert(alive(leasedInit), "a leased name expired");
      await sleep(500);
      assert(alive(leasedInit), "a leased name expired");
      close(leased.lease!);
      delete leased.lease;
      assert(alive(leasedInit), "expired at once instead of after the TTL");
      assert(await waitFor(() => !alive(leasedInit), 10_000), "released name did not expire");
      // The next request gets new namespaces (the old fds we hold keep the old inodes alive).
      const again = makeNamespaces("plain", { socket: d.address, pid: true, ipc: true });
      assertNotEquals(ino(again.pid!), ino(plain.pid!));
      assertNotEquals(ino(again.ipc!), ino(plain.ipc!));
      closeNamespaces(again);
    } finally {
      closeNamespaces(leased);
      closeNamespaces(plain);
    }
  });
});

Deno.test("each request restarts the TTL of an unleased name", async () => {
  await withDaemon(["--namespace-ttl", "1.2"], async (d) => {
    const first = makeNamespaces("busy", { socket: d.address, pid: true });
    const init = initOf(first.pid!, d.children().keys())!;
    closeNamespaces(first);
    // Requests every 200 ms for 2 s: longer than the TTL, never a TTL apart.
    let last = performance.now();
    let longestGap = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      closeNamespaces(makeNamespaces("busy", { socket: d.address, ipc: true }));
      longestGap = Math.max(longestGap, performance.now() - last);
      last = performance.now();
    }
    assert(longestGap < 1000, `the machine stalled for ${longestGap} ms; cannot judge`);
    assert(alive(init), "expired although requested every 200 ms with a TTL of 1.2 s");
    assert(await waitFor(() => !alive(init), 10_000), "did not expire after the requests stopped");
  });
});

Deno.test("a killed init is replaced by a new PID namespace on the next request", async () => {
  await withDaemon([], async (d) => {
    const first = makeNamespaces("phoenix", { socket: d.address, pid: true });
    try {
      const init = initOf(first.pid!, d.children().keys())!;
      Deno.kill(init, "SIGKILL");
      let next: Namespaces | null = null;
      const replaced = await waitFor(() => {
        if (next) closeNamespaces(next);
        next = makeNamespaces("phoenix", { socket: d.address, pid: true });
        return ino(next.pid!) !== ino(first.pid!);
      });
      assert(replaced, "still the dead PID namespace");
      const newInit = initOf(next!.pid!, d.children().keys());
      assert(newInit !== null && alive(newInit) && newInit !== init);
      assertEquals(comm(newInit), "init-phoenix");
      closeNamespaces(next!);
    } finally {
      closeNamespaces(first);
    }
  });
});

Deno.test("SIGTERM stops the daemon with exit 0 and leaves no process, socket or directory", async () => {
  const d = await Daemon.start();
  let inits: number[] = [];
  let runtimeDir = "";
  try {
    for (const name of ["one", "two", "three"]) {
      closeNamespaces(makeNamespaces(name, { socket: d.address, pid: true, ipc: true }));
    }
    // Keep a lease and a user namespace around too.
    const held = makeNamespaces("two", { socket: d.address, lease: true, uidMap: "0 0 1\n" });
    closeNamespaces(held);
    inits = [...d.inits().keys()];
    assertEquals(inits.length, 3);
    runtimeDir = runtimeDirectoryOf(d.pid);
    assert(runtimeDir.length > 0);
  } finally {
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
  for (const pid of inits) assert(!alive(pid), `init ${pid} survived the daemon`);
  let exists = true;
  try {
    Deno.statSync(runtimeDir);
  } catch {
    exists = false;
  }
  assert(!exists, `${runtimeDir} was left behind`);
  let refused = false;
  try {
    makeNamespaces("x", { socket: d.address, ipc: true });
  } catch (e) {
    refused = String(e).includes("ECONNREFUSED");
  }
  assert(refused, "the socket still accepts connections");
});

Deno.test("SIGINT stops like SIGTERM; SIGHUP only logs", async () => {
  const d = await Daemon.start();
  let init = 0;
  try {
    const ns = makeNamespaces("hup", { socket: d.address, pid: true });
    init = initOf(ns.pid!, d.children().keys())!;
    d.signal("SIGHUP");
    await sleep(500);
    const again = makeNamespaces("hup", { socket: d.address, pid: true });
    assertEquals(ino(again.pid!), ino(ns.pid!), "SIGHUP must not drop namespaces");
    closeNamespaces(ns);
    closeNamespaces(again);
  } finally {
    const { code, log } = await d.stop("SIGINT");
    assertEquals(code, 0, log);
    assertMatch(log, /SIGHUP/);
  }
  assert(!alive(init));
});

Deno.test("a crashed daemon leaves its inits (and their namespaces' processes) alone", async () => {
  // Like the original (unit: KillMode=process), only a clean stop ends the inits.
  const d = await Daemon.start();
  const ns = makeNamespaces("survivor", { socket: d.address, pid: true });
  const init = initOf(ns.pid!, d.children().keys())!;
  const runtimeDir = runtimeDirectoryOf(d.pid);
  closeNamespaces(ns);
  try {
    await d.stop("SIGKILL");
    await sleep(200);
    assert(alive(init), "the init died with the daemon");
    assertEquals(comm(init), "init-survivor");
  } finally {
    // A killed daemon cannot clean up after itself.
    try {
      Deno.kill(init, "SIGKILL");
    } catch {
      // already gone
    }
    Deno.removeSync(runtimeDir, { recursive: true });
  }
});

Deno.test("SIGTERM while user namespaces are being made leaves no helper behind", async () => {
  const d = await Daemon.start();
  const c = new AccessoryConnection(d.address);
  let seen: number[] = [];
  try {
    for (let i = 0; i < 20; i++) c.send(namespaceRequest("late", { uidMap: `0 ${i} 1\n` }));
    await waitFor(() => {
      seen = [...d.children()].filter(([, comm]) => comm === FACTORY_COMM)
        .flatMap(([factory]) => [factory, ...childrenOf(factory).keys()]);
      return seen.length > 0;
    }, 2000);
  } finally {
    const { code, log } = await d.stop();
    c.close();
    assertEquals(code, 0, log);
  }
  for (const pid of seen) assert(!alive(pid), `helper ${pid} survived`);
});

Deno.test("with a TTL of 0 a name is gone right after its reply; the fds handed out stay valid", async () => {
  await withDaemon(["--namespace-ttl", "0"], async (d) => {
    const ns = makeNamespaces("fleeting", {
      socket: d.address,
      ipc: true,
      pid: true,
      uidMap: "0 0 1\n",
    });
    try {
      // Discarded at once: its init is killed (usually before we can even look).
      assert(
        await waitFor(() => initOf(ns.pid!, d.children().keys()) === null, 5000),
        "not discarded with TTL 0",
      );
      // The kernel keeps the namespaces alive for our fds.
      assertMatch(fdKind(ns.ipc!), /^ipc:/);
      assertMatch(fdKind(ns.pid!), /^pid:/);
      assertMatch(fdKind(ns.user!), /^user:/);
      const again = makeNamespaces("fleeting", { socket: d.address, ipc: true, pid: true });
      assertNotEquals(ino(again.ipc!), ino(ns.ipc!));
      assertNotEquals(ino(again.pid!), ino(ns.pid!));
      closeNamespaces(again);
    } finally {
      closeNamespaces(ns);
    }
  });
});

for (const perl of [false, true]) {
  const factory = perl ? "perl factory" : "pool program";
  Deno.test(`IPC first, PID later: the init lives in the name's IPC namespace (${factory})`, async () => {
    await withDaemon([], (d) => {
      const ipcOnly = makeNamespaces("joiner", { socket: d.address, ipc: true });
      const both = makeNamespaces("joiner", { socket: d.address, ipc: true, pid: true });
      try {
        assertEquals(ino(both.ipc!), ino(ipcOnly.ipc!), "the same IPC namespace");
        const init = initOf(both.pid!, d.children().keys());
        assert(init !== null, "no init");
        const initIpc = openNamespace(init, "ipc");
        try {
          assertEquals(ino(initIpc), ino(ipcOnly.ipc!), "the init joined the name's IPC namespace");
        } finally {
          closeQuietly(initIpc);
        }
        assertEquals(comm(init), "init-joiner");
      } finally {
        closeNamespaces(ipcOnly);
        closeNamespaces(both);
      }
    }, perl ? PERL_FACTORY : {});
  });
}
