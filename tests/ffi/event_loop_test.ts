import { assert, assertEquals } from "../assert.ts";
import { EventLoop } from "../../ffi/event_loop.ts";
import { EPOLLIN } from "../../ffi/epoll.ts";
import { SOCK_SEQPACKET, unixSocketPair } from "../../ffi/socket.ts";
import { MessageReceiver, sendMessage } from "../../ffi/socket_message.ts";
import { close, fstat, O_NONBLOCK, pipe, read } from "../../ffi/fd.ts";
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

Deno.test("spinning and sleeping on the JS thread: timers and promise callbacks still run, and spinning stops where it finds nothing", async () => {
  const loop = new EventLoop({ spinMicroseconds: 100, waitMilliseconds: 5 });
  const [a, b] = unixSocketPair(SOCK_SEQPACKET);
  const receiver = new MessageReceiver(1);
  let received = 0;
  let callbacks = 0;
  let timers = 0;
  const done = Promise.withResolvers<void>();
  loop.add(b, EPOLLIN, () => {
    while (receiver.receive(b, new Uint8Array(8)) !== null) {
      received++;
      // A promise callback, as replies waiting for a namespace have.
      Promise.resolve().then(() => {
        if (++callbacks === 20) done.resolve();
      });
    }
  });
  const running = loop.run();
  // Events far apart (each needs a timer turn of this same thread).
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 2));
    timers++;
    sendMessage(a, new TextEncoder().encode("x"));
  }
  await done.promise;
  assertEquals([received, callbacks, timers], [20, 20, 20]);
  assertEquals(loop.spinBudgetMicroseconds, 0, "spinning never paid, yet it went on");
  loop.remove(b);
  await loop.close();
  await running;
  close(a);
  close(b);
});

Deno.test("a turn for JS tasks waits while turns are held, and comes once they are released", async () => {
  // Held turns wait for as long as this test could run; events keep coming
  // meanwhile (a ticker writes every few milliseconds), so the loop sleeps on
  // the JS thread and only a turn runs the timer.
  const loop = new EventLoop({ waitMilliseconds: 5, heldTurnMilliseconds: 600_000 });
  const [r, w] = pipe(O_NONBLOCK);
  const ticker = new Deno.Command("sh", {
    args: ["-c", `while :; do printf x; sleep 0.002; done >/proc/${Deno.pid}/fd/${w}`],
  }).spawn();
  const buffer = new Uint8Array(64);
  let ticks = 0;
  let firedAt = -1;
  const fired = Promise.withResolvers<void>();
  const HELD_TICKS = 40; // 80 ms or more: four turns' worth of TURN_MS (20 ms)
  loop.add(r, EPOLLIN, () => {
    while ((read(r, buffer) ?? 0) > 0) { /* drain */ }
    ticks++;
    if (ticks === 1) {
      loop.holdTurns();
      setTimeout(() => {
        firedAt = ticks;
        fired.resolve();
      }, 0);
    }
    if (ticks === HELD_TICKS) loop.releaseTurns();
  });
  const running = loop.run();
  try {
    await fired.promise;
    assert(firedAt >= HELD_TICKS, `a turn came at tick ${firedAt}, while turns were held`);
  } finally {
    ticker.kill("SIGKILL");
    await ticker.status;
    loop.remove(r);
    await loop.close();
    await running;
    close(r);
    close(w);
  }
});
