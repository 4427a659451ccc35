// Integration (root): the spec's error section, misbehaving and many clients.
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  AccessoryConnection,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  type Namespaces,
  ServerError,
} from "../../shared/client.ts";
import { crc32 } from "../../shared/crc32.ts";
import { DatagramWriter, encodeRequest, RequestCommand } from "../../shared/protocol.ts";
import { closeQuietly, fstat } from "../../ffi/fd.ts";
import { MessageReceiver, MSG_NOSIGNAL, sendMessage } from "../../ffi/socket_message.ts";
import {
  connect,
  setTimeoutOption,
  SO_RCVTIMEO,
  SOCK_SEQPACKET,
  unixSocket,
} from "../../ffi/socket.ts";
import { Daemon, sleep, uniqueAddress, waitFor } from "./harness.ts";

async function withDaemon(fn: (d: Daemon) => Promise<void> | void, args: string[] = []) {
  const daemon = await Daemon.start(args);
  try {
    await fn(daemon);
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, `daemon exit status; log:\n${log}`);
  }
}

/** Sends raw bytes on a fresh connection; returns what came back: "EOF", "timeout" or bytes. */
function exchangeRaw(address: string, datagram: Uint8Array<ArrayBuffer>, waitMs = 5000) {
  const c = new AccessoryConnection(address, waitMs);
  try {
    sendMessage(c.fd, datagram, [], MSG_NOSIGNAL);
    const buf = new Uint8Array(4096);
    const m = new MessageReceiver().receive(c.fd, buf, 0);
    if (m === null) return "timeout";
    for (const fd of m.fds) closeQuietly(fd);
    return m.length === 0 ? "EOF" : buf.slice(0, m.length);
  } finally {
    c.close();
  }
}

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

function fdKinds(pid: number): string[] {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => {
    try {
      return Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
    } catch {
      return "gone";
    }
  });
}

const good = () => encodeRequest({ name: "ok", ipc: true, pid: false, user: null, lease: false });
function withCrc(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  new DataView(bytes.buffer).setUint32(4, crc32(bytes, 8), true);
  return bytes;
}

const MALFORMED: [string, () => Uint8Array<ArrayBuffer>][] = [
  ["shorter than 8 bytes", () => good().slice(0, 7)],
  ["wrong magic", () => withCrc(Object.assign(good(), { 0: 0x74 }))],
  ["CRC mismatch", () => Object.assign(good(), { 12: 0x41 })],
  ["truncated packet header", () => withCrc(new Uint8Array([...good(), 1, 0]))],
  ["payload runs past the end", () => withCrc(Object.assign(good(), { 8: 200 }))],
  ["padding runs past the end", () => withCrc(good().slice(0, 15))],
  ["empty NAME", () => new DatagramWriter().packet(RequestCommand.NAME).finish()],
  [
    "NAME with a control byte",
    () => new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0x61, 0x09])).finish(),
  ],
  [
    "NAME with a byte >= 0x80",
    () => new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0xc3, 0xa4])).finish(),
  ],
  ["a command twice", () =>
    new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0x61]))
      .packet(RequestCommand.PID_NAMESPACE).packet(RequestCommand.PID_NAMESPACE).finish()],
  [
    "a non-empty IPC_NAMESPACE payload",
    () =>
      new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0x61]))
        .packet(RequestCommand.IPC_NAMESPACE, new Uint8Array([1])).finish(),
  ],
  [
    "a request without NAME",
    () => new DatagramWriter().packet(RequestCommand.IPC_NAMESPACE).finish(),
  ],
  ["an empty datagram (hang-up)", () => new Uint8Array(0)],
]; // deno-fmt-ignore

Deno.test("every malformed datagram closes only its connection; one log line each", async () => {
  let log = "";
  const d = await Daemon.start();
  try {
    const bystander = new AccessoryConnection(d.address, 2000);
    const request = namespaceRequest("bystander", { ipc: true });
    closeNamespaces(bystander.request(request));
    for (const [what, make] of MALFORMED) {
      assertEquals(exchangeRaw(d.address, make()), "EOF", what);
      // Everyone else is still served, including an open connection.
      closeNamespaces(bystander.request(request));
    }
    bystander.close();
  } finally {
    const result = await d.stop();
    assertEquals(result.code, 0, result.log);
    log = result.log;
  }
  const lines = log.split("\n").filter((l) => l.includes("malformed request"));
  // The hang-up is no malformed request and is not logged.
  assertEquals(lines.length, MALFORMED.length - 1, log);
  for (const reason of [/too short/, /wrong magic/, /CRC mismatch/, /truncated packet header/]) {
    assert(lines.some((l) => reason.test(l)), `no log line matches ${reason}:\n${log}`);
  }
  assertMatch(log, /malformed request from pid \d+ uid 0: request without NAME/);
});

Deno.test("only-NOP datagrams get no response and keep the connection", async () => {
  await withDaemon((d) => {
    const c = new AccessoryConnection(d.address, 10_000);
    try {
      sendMessage(c.fd, new DatagramWriter().packet(RequestCommand.NOP).finish(), [], MSG_NOSIGNAL);
      sendMessage(c.fd, new DatagramWriter().finish(), [], MSG_NOSIGNAL);
      sendMessage(
        c.fd,
        new DatagramWriter().packet(42, new Uint8Array(3)).finish(),
        [],
        MSG_NOSIGNAL,
      );
      // The next answer is the one for this request, and then nothing more.
      const request = namespaceRequest("nop", { ipc: true });
      closeNamespaces(c.request(request));
      setTimeoutOption(c.fd, SO_RCVTIMEO, 300);
      assertThrows(() => c.receive(request), /timed out/);
    } finally {
      c.close();
    }
  });
});

Deno.test("a request with NAME alone gets an empty success response", async () => {
  await withDaemon((d) => {
    assertEquals(makeNamespaces("nothing", { socket: d.address }), {});
    const bytes = exchangeRaw(d.address, encodeRequest(namespaceRequest("nothing", {})));
    assert(bytes instanceof Uint8Array);
    assertEquals(bytes.length, 8, "just the datagram header");
  });
});

Deno.test("a refused uid_map gets an ERROR response; the connection stays usable", async () => {
  await withDaemon((d) => {
    const c = new AccessoryConnection(d.address, 5000);
    try {
      const bad = namespaceRequest("maps", { uidMap: "0 0 1\n0 5 1\n" });
      const e = assertThrows(() => c.request(bad), "Failed to write uid_map: Invalid argument");
      assert(e instanceof ServerError);
      const badGid = namespaceRequest("maps", { uidMap: "0 0 1\n", gidMap: "garbage" });
      assertThrows(() => c.request(badGid), "Failed to write gid_map: Invalid argument");
      const ok = c.request(namespaceRequest("maps", { uidMap: "0 0 1\n", pid: true }));
      assert(ok.user !== undefined && ok.pid !== undefined);
      closeNamespaces(ok);
    } finally {
      c.close();
    }
  });
});

Deno.test("pipelined requests on one connection are answered in order", async () => {
  await withDaemon((d) => {
    const c = new AccessoryConnection(d.address, 5000);
    try {
      // A new user namespace takes milliseconds; the IPC-only requests behind it
      // are ready at once and still must wait their turn.
      const requests = [
        namespaceRequest("order", { uidMap: "0 0 1\n" }),
        namespaceRequest("order", { ipc: true }),
        namespaceRequest("order", { pid: true, lease: true }),
        namespaceRequest("order-2", { ipc: true, uidMap: "0 0 2\n" }),
        namespaceRequest("order", { ipc: true, pid: true }),
      ];
      for (const r of requests) c.send(r);
      // receive() checks each response against its request: order is enforced.
      const got = requests.map((r) => c.receive(r));
      assertEquals(got.map((n) => Object.keys(n).sort().join(",")), [
        "user",
        "ipc",
        "lease,pid",
        "ipc,user",
        "ipc,pid",
      ]);
      for (const n of got) closeNamespaces(n);
    } finally {
      c.close();
    }
  });
});

Deno.test("clients that vanish or never read do not disturb others or leak fds", async () => {
  await withDaemon(async (d) => {
    // Warm up: the namespaces the chaos below will ask for exist.
    const warm = { socket: d.address, ipc: true, pid: true, uidMap: "0 0 1\n" };
    closeNamespaces(makeNamespaces("chaos", warm));
    await sleep(100);
    const before = fdCount(d.pid);
    const usersBefore = fdKinds(d.pid).filter((k) => k.startsWith("user:")).length;
    const userNamespaces = () =>
      fdKinds(d.pid).filter((k) => k.startsWith("user:")).length - usersBefore;
    for (let i = 0; i < 20; i++) {
      // Connect and leave.
      const a = unixSocket(SOCK_SEQPACKET, false);
      connect(a, d.address);
      closeQuietly(a);
      // Ask and leave before the answer (also while a user namespace is being made).
      const b = new AccessoryConnection(d.address);
      // A new user namespace for a name nobody asks for again (cached: one more
      // fd) is being made while its client vanishes; first or behind others.
      const slow = namespaceRequest(`chaos-${i}`, { uidMap: "0 0 1\n" });
      if (i % 2 === 0) b.send(slow);
      b.send(namespaceRequest("chaos", { ipc: true, pid: true, lease: true }));
      b.send(namespaceRequest("chaos", { uidMap: "0 0 1\n", lease: true }));
      if (i % 2 === 1) b.send(slow);
      b.close();
      // Half a datagram header.
      assertEquals(exchangeRaw(d.address, new Uint8Array([0x73, 0x61])), "EOF");
    }
    // One that asks a lot and never reads: the daemon must not block on it.
    const greedy = new AccessoryConnection(d.address);
    const request = encodeRequest(namespaceRequest("chaos", { ipc: true, pid: true }));
    let sent = 0;
    const deadline = performance.now() + 5000;
    while (sent < 5000 && performance.now() < deadline) {
      if (sendMessage(greedy.fd, request, [], MSG_NOSIGNAL | 0x40) === null) await sleep(1);
      else sent++;
    }
    const ns = makeNamespaces("chaos", { socket: d.address, ipc: true, pid: true });
    assert(ns.ipc !== undefined && ns.pid !== undefined);
    closeNamespaces(ns);
    greedy.close();
    // Every connection, lease read end and queued fd is gone again.
    assert(
      await waitFor(() => fdCount(d.pid) <= before + userNamespaces(), 5000),
      `daemon fds ${before} -> ${fdCount(d.pid)}, ${userNamespaces()} more user namespaces`,
    );
    // No pool (made on demand): a pool refilling in the background would move the fd count.
  }, ["--namespace-ttl", "60", "--pool-size", "0"]);
});

Deno.test("out of fds, the daemon pauses accepting and recovers", async () => {
  const d = await Daemon.start([], {}, ["prlimit", "--nofile=80:80", "--"]);
  const held: AccessoryConnection[] = [];
  try {
    // Fill the daemon's fd table with idle connections (the kernel queues
    // the ones it cannot accept; connect() still succeeds up to the backlog).
    for (let i = 0; i < 120; i++) held.push(new AccessoryConnection(d.address, 2000));
    await sleep(300);
    for (const c of held.splice(0)) c.close();
    // Served again once fds are free.
    const ns = makeNamespaces("recovered", { socket: d.address, ipc: true, timeout: 10_000 });
    assert(ns.ipc !== undefined);
    closeNamespaces(ns);
  } finally {
    for (const c of held) c.close();
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
    assertMatch(log, /Too many open files \(EMFILE\); not accepting for 100 ms/);
  }
});

Deno.test("200 concurrent clients are all answered", async () => {
  await withDaemon((d) => {
    const clients: { c: AccessoryConnection; r: ReturnType<typeof namespaceRequest> }[] = [];
    const results: Namespaces[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const c = new AccessoryConnection(d.address, 15_000);
        clients.push({ c, r: namespaceRequest(`many-${i % 20}`, { ipc: true, pid: true }) });
      }
      // Every request is in before any answer is read.
      for (const { c, r } of clients) c.send(r);
      for (const { c, r } of clients) results.push(c.receive(r));
      assertEquals(results.length, 200);
      const inodes = new Set(results.map((n) => fstat(n.pid!).ino));
      assertEquals(inodes.size, 20, "one PID namespace per name");
    } finally {
      for (const n of results) closeNamespaces(n);
      for (const { c } of clients) c.close();
    }
  });
});

Deno.test("--listen with a path and several addresses", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/accessory.socket`;
  const second = uniqueAddress();
  try {
    await withDaemon((d) => {
      for (const socket of [d.address, path, second]) {
        const ns = makeNamespaces("where", { socket, ipc: true });
        assert(ns.ipc !== undefined);
        closeNamespaces(ns);
      }
      assert(Deno.lstatSync(path).isSocket);
    }, ["--listen", path, "--listen", second]);
    let exists = true;
    try {
      Deno.lstatSync(path);
    } catch {
      exists = false;
    }
    assert(!exists, "the socket file was left behind");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("socket activation: the passed listener is used", async () => {
  const address = uniqueAddress();
  const child = new Deno.Command("systemd-socket-activate", {
    args: [
      "--seqpacket",
      "--listen",
      address,
      new URL("../../node_modules/.bin/deno", import.meta.url).pathname,
      "run",
      "-A",
      new URL("../../accessory/main.ts", import.meta.url).pathname,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    // systemd-socket-activate starts the daemon on the first connection.
    let ns: Namespaces | null = null;
    const ok = await waitFor(() => {
      try {
        ns = makeNamespaces("activated", { socket: address, ipc: true, pid: true, timeout: 5000 });
        return true;
      } catch {
        return false;
      }
    }, 10_000);
    assert(ok, "no answer through the activated socket");
    closeNamespaces(ns!);
  } finally {
    await sleep(50);
    child.kill("SIGTERM");
    const status = await child.status;
    const log = await stderr;
    assertEquals(status.code, 0, log);
    assertMatch(log, /listening \(socket activation/);
  }
});

Deno.test("command line: bad options exit 2 naming the option; --help and --version exit 0", async () => {
  const run = (args: string[]) =>
    new Deno.Command(new URL("../../node_modules/.bin/deno", import.meta.url).pathname, {
      args: ["run", "-A", new URL("../../accessory/main.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const bad = await run(["--namespace-ttl", "soon"]);
  assertEquals(bad.code, 2);
  assertMatch(new TextDecoder().decode(bad.stderr), /--namespace-ttl.*'soon'/);
  const unknown = await run(["--bogus"]);
  assertEquals(unknown.code, 2);
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(new TextDecoder().decode(help.stdout), /--namespace-ttl/);
  assertEquals((await run(["--version"])).code, 0);
  const unusable = await run(["--listen", "/nonexistent-dir/x.socket"]);
  assertEquals(unusable.code, 1);
  assertMatch(new TextDecoder().decode(unusable.stderr), /--listen \/nonexistent-dir\/x.socket/);
});
