// Pure daemon logic: init names, expiry, reply ordering. No root needed.
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { COMM_MAX, initProcessName } from "../../accessory/init_name.ts";
import { Lifetime } from "../../accessory/lifetime.ts";
import { OrderedQueue, type Outcome } from "../../accessory/ordered_queue.ts";
import { userKey } from "../../accessory/name_entry.ts";

Deno.test("init names: init-NAME up to 10 characters, i-NAME beyond, 15 bytes at most", () => {
  assertEquals(initProcessName("foo"), "init-foo");
  assertEquals(initProcessName("0123456789"), "init-0123456789");
  assertEquals(initProcessName("0123456789a"), "i-0123456789a");
  assertEquals(initProcessName("a-very-long-namespace-name"), "i-a-very-long-n");
  assertEquals(initProcessName("a-very-long-namespace-name").length, COMM_MAX);
  // "/" cannot be in a file name (the init is exec'ed through a symlink).
  assertEquals(initProcessName("a/b"), "init-a_b");
  assertEquals(initProcessName(".."), "init-..");
  assertEquals(initProcessName("x".repeat(12) + "/"), "i-" + "x".repeat(12) + "_");
});

Deno.test("lifetime: unheld names expire ttl after the last request", () => {
  const life = new Lifetime(1000, 0);
  assert(!life.expired(999));
  assert(life.expired(1000));
  life.touch(500);
  assert(!life.expired(1400));
  assert(life.expired(1500));
});

Deno.test("lifetime: a hold keeps the name; the countdown starts at the last release", () => {
  const life = new Lifetime(1000, 0);
  life.hold();
  life.hold();
  assertEquals(life.remaining(5000), Infinity);
  life.touch(6000); // a request while held does not start a countdown
  life.release(7000);
  assert(!life.expired(100_000), "still held once");
  life.release(8000);
  assert(!life.expired(8999));
  assert(life.expired(9000));
  assertEquals(life.remaining(8500), 500);
  assertThrows(() => life.release(9000), /without hold/);
});

Deno.test("ordered queue: synchronous work with nothing queued finishes at once", () => {
  const q = new OrderedQueue();
  const got: unknown[] = [];
  q.add(1, (o) => got.push(o), () => got.push("cancel"));
  assertEquals(got, [{ ok: true, value: 1 }]);
  assertEquals(q.length, 0);
});

Deno.test("ordered queue: replies leave in request order even when work settles out of order", async () => {
  const q = new OrderedQueue();
  const got: string[] = [];
  const slow = Promise.withResolvers<string>();
  const fast = Promise.withResolvers<string>();
  const record = (o: Outcome<string>) => got.push(o.ok ? o.value : `error ${o.error}`);
  q.add(slow.promise, record, () => {});
  q.add("sync", record, () => {});
  q.add(fast.promise, record, () => {});
  q.add(Promise.reject("boom"), record, () => {});
  fast.resolve("fast");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(got, [], "nothing may overtake the slow head");
  slow.resolve("slow");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(got, ["slow", "sync", "fast", "error boom"]);
  assertEquals(q.length, 0);
});

Deno.test("ordered queue: close cancels what is queued and everything added later", async () => {
  const q = new OrderedQueue();
  const events: string[] = [];
  const pending = Promise.withResolvers<number>();
  q.add(pending.promise, () => events.push("finish 1"), () => events.push("cancel 1"));
  q.add(2, () => events.push("finish 2"), () => events.push("cancel 2"));
  q.close();
  q.add(3, () => events.push("finish 3"), () => events.push("cancel 3"));
  pending.resolve(1);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(events, ["cancel 1", "cancel 2", "cancel 3"]);
});

Deno.test("user namespace cache key distinguishes where the maps split", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const a = userKey({ uidMap: enc("0 1 1"), gidMap: enc("") });
  const b = userKey({ uidMap: enc(""), gidMap: enc("0 1 1") });
  const c = userKey({ uidMap: enc("0 1 1"), gidMap: enc("") });
  assert(a !== b);
  assertEquals(a, c);
});

Deno.test("ordered queue: a throwing finish is reported and does not stall the rest", async () => {
  const errors: unknown[] = [];
  const q = new OrderedQueue((e) => errors.push(e));
  const got: string[] = [];
  const first = Promise.withResolvers<number>();
  q.add(first.promise, () => {
    throw new Error("reply failed");
  }, () => {});
  q.add(2, () => got.push("second"), () => {});
  first.resolve(1);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(got, ["second"]);
  assertEquals(errors.map(String), ["Error: reply failed"]);
});
