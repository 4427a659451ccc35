// Integration (root): cm4all-spawn-client runs commands inside a name's namespaces.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { closeNamespaces, makeNamespaces } from "../../shared/client.ts";
import { encodeErrorResponse } from "../../shared/protocol.ts";
import { EventLoop } from "../../ffi/event_loop.ts";
import { EPOLLIN } from "../../ffi/epoll.ts";
import { closeQuietly } from "../../ffi/fd.ts";
import { accept, bind, listen, SOCK_SEQPACKET, unixSocket } from "../../ffi/socket.ts";
import { MessageReceiver, sendMessage } from "../../ffi/socket_message.ts";
import { CLIENT, Daemon, DENO, fdKind, uniqueAddress } from "./harness.ts";

const decoder = new TextDecoder();

async function client(args: string[], stdin?: string) {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", CLIENT, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function withDaemon(fn: (d: Daemon) => Promise<void>) {
  const daemon = await Daemon.start();
  try {
    await fn(daemon);
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, log);
  }
}

Deno.test("the client runs a command in NAME's IPC and PID namespaces with its own /proc", async () => {
  await withDaemon(async (d) => {
    const r = await client([
      "--socket",
      d.address,
      "foo",
      "/bin/sh",
      "-c",
      "echo $$; readlink /proc/self/ns/ipc /proc/self/ns/pid /proc/self/ns/mnt; " +
      "ps -o pid=,comm= -p 1",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const [pid, ipc, pidNs, mnt, init] = r.stdout.trim().split("\n").map((l) => l.trim());
    assert(Number(pid) > 1 && Number(pid) < 10, `pid ${pid} is not a small namespace pid`);
    assertMatch(init, /^1\s+init-foo$/);
    const ns = makeNamespaces("foo", { socket: d.address, ipc: true, pid: true });
    try {
      assertEquals(ipc, fdKind(ns.ipc!));
      assertEquals(pidNs, fdKind(ns.pid!));
    } finally {
      closeNamespaces(ns);
    }
    assert(mnt !== Deno.readLinkSync("/proc/self/ns/mnt"), "no fresh mount namespace");
    // Our own /proc is untouched by the client's private mount.
    assertEquals(Deno.readLinkSync("/proc/self"), String(Deno.pid));
  });
});

Deno.test("the client exits with the command's status; /bin/sh is the default", async () => {
  await withDaemon(async (d) => {
    assertEquals((await client(["--socket", d.address, "st", "sh", "-c", "exit 7"])).code, 7);
    assertEquals((await client(["--socket", d.address, "st", "sh", "-c", "kill -9 $$"])).code, 137);
    const sh = await client(["--socket", d.address, "st"], "echo from-sh; exit 3\n");
    assertEquals(sh.code, 3);
    assertEquals(sh.stdout, "from-sh\n");
    const missing = await client(["--socket", d.address, "st", "/nonexistent/program"]);
    assert(missing.code !== 0);
  });
});

Deno.test("the client holds a lease: NAME outlives its TTL while the command runs", async () => {
  const daemon = await Daemon.start(["--namespace-ttl", "0.2"]);
  try {
    const r = await client(["--socket", daemon.address, "long", "sh", "-c", "sleep 1; echo alive"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "alive\n");
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("an ERROR response prints 'Server error: MESSAGE' and exits 1", async () => {
  // A stand-in daemon that refuses everything.
  const address = uniqueAddress();
  const listener = unixSocket(SOCK_SEQPACKET);
  bind(listener, address);
  listen(listener);
  const loop = new EventLoop();
  const connections: number[] = [];
  const receiver = new MessageReceiver();
  loop.add(listener, EPOLLIN, () => {
    for (let c; (c = accept(listener)) !== null;) {
      const fd = c;
      connections.push(fd);
      loop.add(fd, EPOLLIN, () => {
        const m = receiver.receive(fd, new Uint8Array(1024));
        if (m && m.length > 0) sendMessage(fd, encodeErrorResponse("No namespaces today"));
        else loop.remove(fd);
      });
    }
  });
  const running = loop.run();
  try {
    const r = await client(["--socket", address, "foo", "true"]);
    assertEquals(r.code, 1);
    assertEquals(r.stderr, "Server error: No namespaces today\n");
  } finally {
    for (const fd of [listener, ...connections]) {
      loop.remove(fd);
      closeQuietly(fd);
    }
    await loop.close();
    await running;
  }
});

Deno.test("an unreachable daemon or bad usage: exit 1 / 2 with one line", async () => {
  const r = await client(["--socket", uniqueAddress(), "foo", "true"]);
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /^cm4all-spawn-client: @.*Connection refused.*\n$/);
  const usage = await client([]);
  assertEquals(usage.code, 2);
  const bad = await client(["--socket", uniqueAddress(), "bad\tname", "true"]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, /NAME has byte 0x09/);
});
