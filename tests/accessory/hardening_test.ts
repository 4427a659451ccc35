// Integration (root): peer credentials, limits, fd hygiene of the daemon and
// its children, truncated ancillary data (issue 7); attacks by an
// unprivileged uid (issue 14).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  AccessoryConnection,
  checkResponse,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  type Namespaces,
  ServerError,
} from "../../shared/client.ts";
import { closeQuietly, pipe, write } from "../../ffi/fd.ts";
import {
  bind,
  connect,
  setIntOption,
  setTimeoutOption,
  SO_RCVTIMEO,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOL_SOCKET,
  unixSocket,
} from "../../ffi/socket.ts";
import { SysError } from "../../ffi/sys_error.ts";
import { bindListener, refuseFdPassing, SO_PASSRIGHTS } from "../../accessory/listener.ts";
import { AccessoryDaemon } from "../../accessory/daemon.ts";
import { SCM_MAX_FD } from "../../accessory/connection.ts";
import { MessageReceiver, MSG_NOSIGNAL, sendMessage } from "../../ffi/socket_message.ts";
import { encodeRequest } from "../../shared/protocol.ts";
import {
  alive,
  childrenOf,
  Daemon,
  fdKind,
  initOf,
  POOL_PROGRAM,
  readProc,
  sleep,
  uniqueAddress,
  waitFor,
} from "./harness.ts";
import { initProcessName } from "../../accessory/init_name.ts";
import { FACTORY_COMM } from "../../accessory/helper_programs.ts";

/** setpriv arguments that make a command run as nobody, without groups. */
const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
const PEER_CLIENT = new URL("./peer_client.ts", import.meta.url).pathname;

async function withDaemon(
  args: string[],
  fn: (d: Daemon) => Promise<void> | void,
  check: (log: string) => void = () => {},
) {
  const daemon = await Daemon.start(args);
  try {
    await fn(daemon);
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, `daemon exit status; log:\n${log}`);
    check(log);
  }
}

/** Runs peer_client.ts as uid/gid (no supplementary groups); its JSON lines. */
async function asUser(
  uid: number,
  gid: number,
  address: string,
  name: string,
  count = 1,
  kind: "ipc" | "user" = "ipc",
) {
  const denoDir = Deno.makeTempDirSync({ prefix: "h9-deno-dir-" });
  try {
    Deno.chownSync(denoDir, uid, gid);
    const out = await new Deno.Command("setpriv", {
      args: [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--clear-groups",
        DENO,
        "run",
        "-A",
        PEER_CLIENT,
        address,
        name,
        String(count),
        kind,
      ],
      cwd: "/",
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, `peer client failed: ${stderr}`);
    return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      JSON.parse(l) as { fds?: number; error?: string }
    );
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
}

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** fd -> readlink target of a process's fds. */
function fdsOf(pid: number): Map<number, string> {
  const result = new Map<number, string>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      result.set(Number(e.name), Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
    } catch {
      // closed meanwhile
    }
  }
  return result;
}

Deno.test("only uid 0 may request namespaces by default; refusals are ERRORs, logged rate-limited", async () => {
  await withDaemon([], async (d) => {
    const results = await asUser(65534, 65534, d.address, "refused", 30);
    assertEquals(results.length, 30);
    for (const r of results) {
      assertEquals(r.error, "Permission denied: uid 65534 may not request namespaces");
    }
    assertEquals(d.inits().size, 0);
    // Root still gets its namespaces.
    const ns = makeNamespaces("root-ok", { socket: d.address, ipc: true });
    assert(ns.ipc !== undefined);
    closeNamespaces(ns);
  }, (log) => {
    const lines = log.split("\n").filter((l) => l.includes('refused "refused"'));
    assert(lines.length >= 1 && lines.length <= 3, `rate-limited refusal log:\n${log}`);
    assertMatch(lines[0], /to pid \d+ uid 65534 gid 65534: Permission denied/);
  });
});

Deno.test("--allow-uid and --allow-gid widen who may request namespaces", async () => {
  await withDaemon(["--allow-uid", "65534", "--allow-gid", "65531"], async (d) => {
    assertEquals(await asUser(65534, 65534, d.address, "by-uid"), [{ fds: 1 }]);
    assertEquals(await asUser(65533, 65531, d.address, "by-gid"), [{ fds: 1 }]);
    assertEquals(await asUser(65533, 65533, d.address, "neither"), [{
      error: "Permission denied: uid 65533 may not request namespaces",
    }]);
  });
});

/** The ERROR message of a request, or "ok". */
function outcome(address: string, name: string, options: Parameters<typeof makeNamespaces>[1]) {
  try {
    closeNamespaces(makeNamespaces(name, { socket: address, ...options }));
    return "ok";
  } catch (e) {
    if (e instanceof ServerError) return e.message;
    throw e;
  }
}

Deno.test("limits: NAME length, live names, user namespaces per name, map size and lines", async () => {
  await withDaemon(["--max-names", "3", "--max-user-namespaces", "2"], (d) => {
    const a = d.address;
    assertEquals(outcome(a, "n".repeat(255), { ipc: true }), "ok");
    assertEquals(
      outcome(a, "n".repeat(256), { ipc: true }),
      "NAME too long: 256 bytes (limit 255)",
    );
    assertEquals(outcome(a, "second", {}), "ok");
    assertEquals(outcome(a, "third", {}), "ok");
    assertEquals(outcome(a, "fourth", {}), "Too many names: 3 live (limit 3)");
    assertEquals(outcome(a, "third", { ipc: true }), "ok", "existing names are still served");

    const u = (uidMap: string) => ({ uidMap });
    assertEquals(outcome(a, "third", u("0 0 1\n")), "ok");
    assertEquals(outcome(a, "third", u("0 1 1\n")), "ok");
    assertEquals(
      outcome(a, "third", u("0 2 1\n")),
      'Too many user namespaces for "third": 2 (limit 2)',
    );
    assertEquals(
      outcome(a, "third", u("0 0 1\n")),
      "ok",
      "a cached user namespace is still served",
    );

    const lines = Array.from({ length: 341 }, (_, i) => `${i} ${i} 1\n`).join("");
    assertEquals(
      outcome(a, "second", u(lines)),
      "uid_map has too many lines: 341 (limit 340)",
    );
    assertEquals(
      outcome(a, "second", u("0 0 1" + " ".repeat(5000))),
      "uid_map too large: 5005 bytes (limit 4096)",
    );
    assertEquals(d.inits().size, 0);
  });
});

Deno.test("limits: beyond --max-connections new connections are closed, logged once", async () => {
  const held: AccessoryConnection[] = [];
  await withDaemon(["--max-connections", "3"], async (d) => {
    for (let i = 0; i < 3; i++) held.push(new AccessoryConnection(d.address, 5000));
    assert(await waitFor(() => fdCount(d.pid) > 0));
    const request = namespaceRequest("c", { ipc: true });
    for (const c of held) closeNamespaces(c.request(request));
    for (let i = 0; i < 5; i++) {
      const extra = new AccessoryConnection(d.address, 5000);
      try {
        let error = "";
        try {
          extra.send(request); // EPIPE if the daemon closed it already
          extra.receive(request);
        } catch (e) {
          error = (e as Error).message;
        }
        assertMatch(error, /closed the connection without a response|ECONNRESET|EPIPE/);
      } finally {
        extra.close();
      }
    }
    held.pop()!.close();
    await sleep(100);
    const again = new AccessoryConnection(d.address, 5000);
    try {
      closeNamespaces(again.request(request));
    } finally {
      again.close();
    }
  }, (log) => {
    const lines = log.split("\n").filter((l) => l.includes("connections open (limit 3)"));
    assert(lines.length >= 1 && lines.length <= 2, `rate-limited overflow log:\n${log}`);
  });
  for (const c of held) c.close();
});

Deno.test("every fd of the daemon is close-on-exec; the init holds nothing but /dev/null", async () => {
  await withDaemon([], (d) => {
    const ns = makeNamespaces("cloexec", { socket: d.address, ipc: true, pid: true, lease: true });
    try {
      for (const [fd, target] of fdsOf(d.pid)) {
        if (fd <= 2) continue;
        const info = readProc(`/proc/${d.pid}/fdinfo/${fd}`);
        if (info === null) continue;
        const flags = parseInt(/flags:\s+(\d+)/.exec(info)![1], 8);
        assert(flags & 0o2000000, `daemon fd ${fd} (${target}) lacks O_CLOEXEC`);
      }
      // An init of the pool program closes its pipes once named; sleep's are /dev/null.
      const [init] = d.inits().keys();
      assertEquals(
        [...fdsOf(init)].sort((a, b) => a[0] - b[0]),
        POOL_PROGRAM ? [[2, "/dev/null"]] : [[0, "/dev/null"], [1, "/dev/null"], [2, "/dev/null"]],
      );
    } finally {
      closeNamespaces(ns);
    }
  });
});

/** Children of `pid` from /proc/PID/task/TID/children (cheap enough to poll). */
function childPids(pid: number): number[] {
  const result: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = readProc(`/proc/${pid}/task/${task.name}/children`) ?? "";
    for (const p of text.trim().split(/\s+/)) if (p) result.push(Number(p));
  }
  return result;
}

Deno.test("the namespace factory and what it makes hold only pipes and /dev/null", async () => {
  await withDaemon([], async (d) => {
    const c = new AccessoryConnection(d.address, 15_000);
    const requests = Array.from(
      { length: 40 },
      (_, i) => namespaceRequest(`helper-${i}`, { pid: true, uidMap: `0 ${i} 1\n` }),
    );
    // pid -> its fds, and whether it was the pool program (or a process it
    // cloned that has not set up its own fds and comm yet) when they were read.
    const seen = new Map<number, Map<number, string>>();
    const asProgram = new Set<number>();
    try {
      for (const r of requests) c.send(r);
      const end = performance.now() + 10_000;
      while (performance.now() < end && seen.size < 3) {
        // The factory (perl), its user namespace helpers, prepared inits not yet named.
        const pool = childPids(d.pid).filter((pid) =>
          /^spawn-pool/.test(readProc(`/proc/${pid}/comm`) ?? "")
        );
        for (const pid of [...pool, ...pool.flatMap(childPids)]) {
          if (seen.has(pid)) continue;
          try {
            const before = readProc(`/proc/${pid}/comm`)?.trim();
            seen.set(pid, fdsOf(pid));
            if (before === FACTORY_COMM) asProgram.add(pid);
          } catch {
            // gone already
          }
        }
        await sleep(0);
      }
      for (const r of requests) closeNamespaces(c.receive(r));
    } finally {
      c.close();
    }
    assert(seen.size >= 1, "caught no pool process while it ran");
    for (const [pid, fds] of seen) {
      // The dynamic loader of a freshly exec'ed process may have a library
      // open. The pool program holds its socket to the daemon on fd 0, and so
      // does what it clones until it has put its own fds there and taken its
      // own comm.
      const program = POOL_PROGRAM && asProgram.has(pid);
      const kinds = [...fds.entries()].filter(([fd, t]) =>
        !/\.so(\.\d+)*$/.test(t) && !/^(pipe:|\/dev\/null$)/.test(t) &&
        !(program && fd === 0 && t.startsWith("socket:"))
      ).map(([, t]) => t);
      assertEquals(kinds, [], `pool process ${pid} holds more than pipes and /dev/null`);
    }
  });
});

/** True if this kernel has SO_PASSRIGHTS (Linux 6.16), so that listeners refuse fds. */
function kernelRefusesFds(): boolean {
  const fd = unixSocket(SOCK_SEQPACKET);
  try {
    return refuseFdPassing(fd);
  } finally {
    closeQuietly(fd);
  }
}

/** True once every read end of the pipe is closed (a write fails with EPIPE). */
function readEndClosed(writeEnd: number): boolean {
  try {
    write(writeEnd, new Uint8Array(1));
    return false;
  } catch (e) {
    if (e instanceof SysError && e.code === "EPIPE") return true;
    throw e;
  }
}

Deno.test("fds sent to the daemon are refused by the kernel or closed; the connection stays usable", async () => {
  await withDaemon([], async (d) => {
    const c = new AccessoryConnection(d.address, 5000);
    let [r, w] = pipe();
    try {
      const request = namespaceRequest("warm", { ipc: true });
      closeNamespaces(c.request(request));
      let error = "";
      try {
        sendMessage(c.fd, encodeRequest(request), [r], MSG_NOSIGNAL);
        closeNamespaces(c.receive(request)); // served; the fd is closed
      } catch (e) {
        error = e instanceof SysError ? e.code : String(e);
      }
      closeQuietly(r);
      r = -1; // closed once (a number closed twice may be someone else's by then)
      if (kernelRefusesFds()) {
        assertEquals(error, "EPERM", "SO_PASSRIGHTS 0 on the listener");
      } else {
        assertEquals(error, "");
        assert(await waitFor(() => readEndClosed(w)), "the daemon kept the fd it was sent");
      }
      closeNamespaces(c.request(request));
    } finally {
      c.close();
      closeQuietly(r);
      closeQuietly(w);
    }
  });
});

/**
 * A daemon in this process whose listener accepts fds, as on a kernel
 * without SO_PASSRIGHTS: the fallback of connection.ts.
 */
async function withFdAcceptingDaemon(fn: (address: string) => Promise<void>) {
  const address = uniqueAddress();
  const listener = bindListener(address);
  setIntOption(listener, SOL_SOCKET, SO_PASSRIGHTS, 1);
  const runtimeDirectory = Deno.makeTempDirSync({ prefix: "fd-accepting-" });
  const daemon = new AccessoryDaemon({ listeners: [listener], namespaceTtl: 60, runtimeDirectory });
  const running = daemon.run();
  try {
    await fn(address);
  } finally {
    await daemon.stop();
    await running;
    Deno.removeSync(runtimeDirectory, { recursive: true });
  }
}

/** Python: connect, wait a second, send the request; "answered" or "timeout" within 5 s. */
const TIMED_REQUEST = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\\0" + sys.argv[1][1:])
time.sleep(1)
s.send(bytes.fromhex(sys.argv[2]))
s.settimeout(5)
try:
    s.recv(4096)
    print("answered")
except socket.timeout:
    print("timeout")
`;

/** A root client that never blocks this process's event loop: request, then poll. */
async function requestWithoutBlocking(address: string, fds: number[] = []) {
  const fd = unixSocket(SOCK_SEQPACKET);
  try {
    connect(fd, address);
    const request = namespaceRequest("fallback", { ipc: true });
    sendMessage(fd, encodeRequest(request), fds, MSG_NOSIGNAL);
    const buf = new Uint8Array(4096);
    const receiver = new MessageReceiver(8);
    for (const end = performance.now() + 5000; performance.now() < end;) {
      const m = receiver.receive(fd, buf);
      if (m !== null) return checkResponse(request, buf.subarray(0, m.length), m.fds);
      await sleep(10);
    }
    throw new Error("no response within 5 s");
  } finally {
    closeQuietly(fd);
  }
}

Deno.test(
  "without SO_PASSRIGHTS: all 253 fds of a datagram are closed, a lingering one off the loop thread (issue 14)",
  { sanitizeOps: false, sanitizeResources: false },
  async () => {
    await withFdAcceptingDaemon(async (address) => {
      const pipes = Array.from({ length: SCM_MAX_FD }, () => pipe());
      try {
        closeNamespaces(await requestWithoutBlocking(address, pipes.map(([r]) => r)));
        // Closed once: the daemon runs in this process, and a number closed
        // twice may by then be one of its own fds (the pool's pidfds).
        for (const p of pipes) {
          closeQuietly(p[0]);
          p[0] = -1;
        }
        assert(
          await waitFor(() => pipes.every(([, w]) => readEndClosed(w))),
          "the daemon kept fds it was sent",
        );
      } finally {
        for (const p of pipes) p.forEach((fd) => fd >= 0 && closeQuietly(fd));
      }
      // Root asks from another process, a second after the attacker's fd
      // arrived: a daemon that closed it on its loop thread would freeze this
      // process, so only an outside client can tell, by its own timeout.
      let root: Promise<Deno.CommandOutput> | undefined;
      const attacker = await lingeringFdAttacker(address, () => {
        root = new Deno.Command("/usr/bin/python3", {
          args: ["-c", TIMED_REQUEST, address, requestHex("root")],
          stdout: "piped",
        }).output();
      });
      try {
        assertEquals(attacker.sent, "sent");
        const out = await root!;
        assertEquals(new TextDecoder().decode(out.stdout).trim(), "answered");
      } finally {
        await attacker.end();
      }
    });
  },
);

Deno.test("out of fds, requests get an ERROR, never a partial set of fds", async () => {
  const d = await Daemon.start([], {}, ["prlimit", "--nofile=60:60", "--"]);
  const held: Namespaces[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < 40; i++) {
      try {
        // Every success passes the client's completeness check.
        const ns = makeNamespaces(`full-${i}`, {
          socket: d.address,
          ipc: true,
          pid: true,
          lease: true,
          timeout: 10_000,
        });
        assert(ns.ipc !== undefined && ns.pid !== undefined && ns.lease !== undefined);
        held.push(ns);
      } catch (e) {
        if (!(e instanceof ServerError)) throw e;
        assertMatch(e.message, /Too many open files|EMFILE/);
        errors++;
      }
    }
    assert(errors > 0, "the fd limit was never reached");
    for (const ns of held.splice(0)) closeNamespaces(ns);
  } finally {
    for (const ns of held) closeNamespaces(ns);
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("a client out of fds (MSG_CTRUNC) refuses the partial response and closes what arrived", async () => {
  await withDaemon([], async (d) => {
    const out = await new Deno.Command(DENO, {
      args: ["run", "-A", new URL("./fd_starved_client.ts", import.meta.url).pathname, d.address],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(text);
    assertEquals(result.error, "ProtocolError", text);
    assertMatch(result.message, /truncated/);
    assert(result.leaked <= 0, `the client kept fds of the partial response: ${text}`);
  });
});

Deno.test("adoption: a fake init planted by an unprivileged uid is never adopted (issue 14)", async () => {
  const address = uniqueAddress();
  const dir = Deno.makeTempDirSync({ prefix: "fake-init-" });
  Deno.chmodSync(dir, 0o755);
  Deno.symlinkSync("/usr/bin/sleep", `${dir}/init-victim`);
  // Every marker of a real init: environment, comm, PID 1, running sleep.
  const fake = new Deno.Command("setpriv", {
    args: [
      ...NOBODY,
      "unshare",
      "-Urpif",
      "--fork",
      "env",
      "-i",
      `CM4ALL_SPAWN_ACCESSORY=${address}`,
      "CM4ALL_SPAWN_NAME=victim",
      `${dir}/init-victim`,
      "infinity",
    ],
    stdin: "null",
  }).spawn();
  let fakeInit = 0;
  let d: Daemon | null = null;
  try {
    assert(
      await waitFor(() => {
        fakeInit = [...childrenOf(fake.pid)].find(([, c]) => c === "init-victim")?.[0] ?? 0;
        return fakeInit > 0;
      }),
      "the fake init did not start",
    );
    const fakePid = Deno.readLinkSync(`/proc/${fakeInit}/ns/pid`);
    const fakeIpc = Deno.readLinkSync(`/proc/${fakeInit}/ns/ipc`);
    d = await Daemon.start([], {}, [], address);
    const ns = makeNamespaces("victim", { socket: address, ipc: true, pid: true });
    try {
      assert(fdKind(ns.pid!) !== fakePid, "root got the attacker's PID namespace");
      assert(fdKind(ns.ipc!) !== fakeIpc, "root got the attacker's IPC namespace");
    } finally {
      closeNamespaces(ns);
    }
    assert(alive(fakeInit), "not the daemon's to kill either");
    const { code, log } = await d.stop();
    d = null;
    assertEquals(code, 0, log);
    assert(!/adopted/.test(log), log);
  } finally {
    await d?.stop();
    for (const pid of [fakeInit, fake.pid]) {
      try {
        if (pid > 0) Deno.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await fake.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a NAME whose 15-byte init name ends in a space gets its PID namespace at once (issue 14)", async () => {
  await withDaemon([], (d) => {
    for (const name of ["abcdefghi ", "abcdefghijkl ", "a         "]) {
      const ns = makeNamespaces(name, { socket: d.address, pid: true, timeout: 10_000 });
      try {
        const init = initOf(ns.pid!, d.inits().keys());
        assert(init !== null, `no init for ${JSON.stringify(name)}`);
        assertEquals(readProc(`/proc/${init}/comm`), initProcessName(name) + "\n");
      } finally {
        closeNamespaces(ns);
      }
    }
  });
});

const ATTACKER = new URL("./lingering_fd_attacker.py", import.meta.url).pathname;

const requestHex = (name: string) =>
  [...encodeRequest(namespaceRequest(name, { ipc: true }))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Starts the lingering-fd attacker as nobody; resolves with its send result
 * once sent. With `whileFrozen`, it sends only after whileFrozen() started,
 * and this process's JS thread (an in-process daemon's event loop with it)
 * is blocked until the attacker has sent the fd and dropped its own copy.
 */
async function lingeringFdAttacker(address: string, whileFrozen?: () => void) {
  const hex = requestHex("x");
  const signal = whileFrozen ? uniqueAddress("signal") : null;
  const done = signal ? unixSocket(SOCK_DGRAM, false) : -1;
  if (signal) {
    bind(done, signal);
    setTimeoutOption(done, SO_RCVTIMEO, 10_000);
  }
  const child = new Deno.Command("setpriv", {
    args: [
      ...NOBODY,
      "/usr/bin/python3",
      ATTACKER,
      address,
      hex,
      ...(signal ? ["--signal", signal] : []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    if (whileFrozen) {
      whileFrozen();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      writer.releaseLock();
      // Synchronous: nothing else runs on this thread until the attacker is done.
      const m = new MessageReceiver().receive(done, new Uint8Array(16), 0);
      if (m === null) throw new Error("the attacker did not signal within 10 s");
    }
  } finally {
    closeQuietly(done);
  }
  const reader = child.stdout.getReader();
  const line = await reader.read();
  reader.releaseLock();
  const sent = JSON.parse(new TextDecoder().decode(line.value)).send as string;
  return {
    sent,
    async end() {
      await child.stdin.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}

Deno.test("a lingering socket sent by an unprivileged uid never freezes the daemon (issue 14)", async () => {
  await withDaemon([], async (d) => {
    const attacker = await lingeringFdAttacker(d.address);
    try {
      // SO_PASSRIGHTS (Linux 6.16) refuses the fd at the sender; older
      // kernels deliver it and the daemon closes it off its loop thread.
      assertEquals(attacker.sent, kernelRefusesFds() ? "EPERM" : "sent");
      // The linger time is 60 s: root is served long before.
      const ns = makeNamespaces("after-linger", { socket: d.address, ipc: true, timeout: 5000 });
      assert(ns.ipc !== undefined);
      closeNamespaces(ns);
    } finally {
      await attacker.end();
    }
  });
});

const HOG = new URL("./connection_hog.py", import.meta.url).pathname;

/** COUNT idle connections held by nobody; open() asks how many the daemon left open. */
async function connectionHog(address: string, count: number) {
  const child = new Deno.Command("setpriv", {
    args: [...NOBODY, "/usr/bin/python3", HOG, address, String(count)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let pending = "";
  const next = async () => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the connection hog exited");
      pending += value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(line.length + 1);
    return JSON.parse(line);
  };
  assertEquals(await next(), { connected: count });
  return {
    async open(): Promise<number> {
      await writer.write(new TextEncoder().encode("\n"));
      return (await next()).open;
    },
    async end() {
      await writer.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

Deno.test("idle connections of a refused uid cannot lock root out; they are closed when idle (issue 14)", async () => {
  await withDaemon([
    "--max-connections",
    "50",
    "--max-refused-connections",
    "8",
    "--refused-idle-timeout",
    "2",
  ], async (d) => {
    const hog = await connectionHog(d.address, 100);
    try {
      await sleep(300); // accepted (and the excess closed) by now
      assertEquals(await hog.open(), 8, "refused uids share --max-refused-connections");
      const ns = makeNamespaces("root-first", { socket: d.address, ipc: true, timeout: 5000 });
      closeNamespaces(ns);
      let open = 8;
      for (const end = performance.now() + 6000; open > 0 && performance.now() < end;) {
        await sleep(100);
        open = await hog.open();
      }
      assertEquals(open, 0, "idle connections of a refused uid stay open");
    } finally {
      await hog.end();
    }
  }, (log) => assertMatch(log, /connections of refused uids open \(limit 8\)/));
});

Deno.test("an allowed uid other than 0 has a connection quota; root keeps its room (issue 14)", async () => {
  await withDaemon([
    "--allow-uid",
    "65534",
    "--max-connections",
    "50",
    "--max-connections-per-uid",
    "10",
    "--refused-idle-timeout",
    "1",
  ], async (d) => {
    const hog = await connectionHog(d.address, 100);
    try {
      await sleep(1500); // longer than the idle timeout: allowed uids do not have one
      assertEquals(await hog.open(), 10);
      const held = Array.from({ length: 10 }, () => new AccessoryConnection(d.address, 5000));
      try {
        for (const c of held) closeNamespaces(c.request(namespaceRequest("root", { ipc: true })));
      } finally {
        for (const c of held) c.close();
      }
    } finally {
      await hog.end();
    }
  }, (log) => assertMatch(log, /uid 65534 has 10 connections open \(limit 10 per uid\)/));
});

Deno.test("an allowed uid other than 0 may hold only --max-user-namespaces-per-uid user namespaces (issue 14)", async () => {
  await withDaemon([
    "--allow-uid",
    "65534",
    "--max-user-namespaces-per-uid",
    "3",
    "--namespace-ttl",
    "1",
  ], async (d) => {
    const refusal = "Too many user namespaces for uid 65534: 3 (limit 3)";
    assertEquals(await asUser(65534, 65534, d.address, "quota", 5, "user"), [
      { fds: 1 },
      { fds: 1 },
      { fds: 1 },
      { error: refusal },
      { error: refusal },
    ]);
    // Over all names, not per name; root is not counted.
    assertEquals(await asUser(65534, 65534, d.address, "other", 1, "user"), [{ error: refusal }]);
    assertEquals(outcome(d.address, "root-user", { uidMap: "0 0 1\n" }), "ok");
    // Expired names give their user namespaces back.
    await sleep(2500);
    assertEquals(await asUser(65534, 65534, d.address, "again", 3, "user"), [
      { fds: 1 },
      { fds: 1 },
      { fds: 1 },
    ]);
  });
});
