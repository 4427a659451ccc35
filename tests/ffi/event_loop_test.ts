import { assert, assertEquals } from "../assert.ts";
import { EventLoop } from "../../ffi/event_loop.ts";
import { EPOLLIN } from "../../ffi/epoll.ts";
import { SOCK_SEQPACKET, unixSocketPair } from "../../ffi/socket.ts";
import { MessageReceiver, sendMessage } from "../../ffi/socket_message.ts";
import { close, fstat, pipe } from "../../ffi/fd.ts";
import { SysError } from "../../ffi/sys_error.ts";

Deno.test("event loop delivers seqpacket datagrams with fds and stops cleanly", async () => {
  const loop = new EventLoop();
  const [a, b] = unixSocketPair(SOCK_SEQPACKET);
  const [r, w] = pipe();
  const receiver = new MessageReceiver(4);
  const got: { text: string; fds: number[] }[] = [];
  const done = Promise.withResolvers<void>();
  loop.add(b, EPOLLIN, () => {
    const buf = new Uint8Array(64);
    for (let m; (m = receiver.receive(b, buf)) !== null;) {
      got.push({ text: new TextDecoder().decode(buf.subarray(0, m.length)), fds: m.fds });
      if (got.length === 2) done.resolve();
    }
  });
  const running = loop.run();
  sendMessage(a, new TextEncoder().encode("one"), [r]);
  setTimeout(() => sendMessage(a, new TextEncoder().encode("two")), 10);
  await done.promise;
  assertEquals(got.map((g) => g.text), ["one", "two"]);
  assertEquals(got[0].fds.length, 1);
  assertEquals(fstat(got[0].fds[0]).ino, fstat(r).ino);
  assertEquals(got[1].fds.length, 0);
  loop.remove(b);
  await loop.close();
  await running;
  for (const fd of [a, b, r, w, got[0].fds[0]]) close(fd);
});

Deno.test("failed calls throw SysError naming the call and errno", () => {
  try {
    close(987654);
    throw new Error("close of a bad fd succeeded");
  } catch (e) {
    assert(e instanceof SysError);
    assertEquals(e.code, "EBADF");
    assertEquals(e.call, "close(987654)");
    assertEquals(e.reason, "Bad file descriptor");
  }
});

Deno.test("closing an event loop twice is harmless", async () => {
  const loop = new EventLoop();
  const running = loop.run();
  await loop.close();
  await loop.close();
  await loop.stop();
  await running;
});
