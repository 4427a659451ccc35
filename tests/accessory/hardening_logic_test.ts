// Pure logic of issues 7 and 14: access list, limits, init markers, comm, rate-limited log.
import { assert, assertEquals } from "../assert.ts";
import {
  checkPeer,
  checkRequestLimits,
  DEFAULT_LIMITS,
  lineCount,
} from "../../accessory/limits.ts";
import {
  adoptableName,
  instanceKey,
  madeByDaemon,
  markerEnvironment,
  spareInit,
} from "../../accessory/init_marker.ts";
import { commBytes, commIs } from "../../accessory/process_comm.ts";
import { RateLimitedLog } from "../../accessory/rate_limited_log.ts";
import { ConnectionQuota, rootReserve } from "../../accessory/connection_quota.ts";
import type { Request } from "../../shared/protocol.ts";

const access = { uids: new Set([1000]), gids: new Set([50]) };
const peer = (uid: number, gid = uid) => ({ pid: 42, uid, gid });

Deno.test("access: uid 0 always; listed uids and gids; both credentials must pass", () => {
  const none = { uids: new Set<number>(), gids: new Set<number>() };
  assertEquals(checkPeer(none, peer(0), peer(0)), null);
  assertEquals(
    checkPeer(none, peer(1000), peer(0)),
    "Permission denied: uid 1000 may not request namespaces",
  );
  assertEquals(checkPeer(access, peer(1000), peer(1000)), null);
  assertEquals(checkPeer(access, peer(7, 50), undefined), null);
  assertEquals(
    checkPeer(access, peer(0), peer(7)),
    "Permission denied: uid 7 may not request namespaces",
    "a socket opened by uid 7 and passed to root",
  );
  assertEquals(checkPeer(access, undefined, undefined), "Permission denied: no peer credentials");
});

const text = (s: string) => new TextEncoder().encode(s);
const request = (name: string, uidMap = "", gidMap = ""): Request => ({
  name,
  ipc: true,
  pid: false,
  user: uidMap || gidMap ? { uidMap: text(uidMap), gidMap: text(gidMap) } : null,
  lease: false,
});

Deno.test("limits: NAME length and map size/lines at and beyond the boundary", () => {
  const limits = { ...DEFAULT_LIMITS };
  assertEquals(checkRequestLimits(request("x".repeat(255)), limits), null);
  assertEquals(
    checkRequestLimits(request("x".repeat(256)), limits),
    "NAME too long: 256 bytes (limit 255)",
  );
  const lines = (n: number) => "0 0 1\n".repeat(n);
  assertEquals(checkRequestLimits(request("n", lines(340)), limits), null);
  assertEquals(
    checkRequestLimits(request("n", "", lines(341)), limits),
    "gid_map has too many lines: 341 (limit 340)",
  );
  assertEquals(checkRequestLimits(request("n", "x".repeat(4096)), limits), null);
  assertEquals(
    checkRequestLimits(request("n", "x".repeat(4097)), limits),
    "uid_map too large: 4097 bytes (limit 4096)",
  );
  assertEquals(lineCount(text("")), 0);
  assertEquals(lineCount(text("a")), 1);
  assertEquals(lineCount(text("a\nb")), 2);
  assertEquals(lineCount(text("a\nb\n")), 2);
});

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("init marker: only an init of this instance with matching comm, PID 1 and exe is adopted", () => {
  const instance = instanceKey(["@b", "@a"]);
  assertEquals(instance, "@a @b");
  const facts = {
    environ: bytes(markerEnvironment(instance, "web/1").join("\0") + "\0"),
    comm: bytes("init-web_1\n"),
    status: "Name:\tinit-web_1\nUid:\t0\t0\t0\t0\nNSpid:\t4242\t1\n",
    exe: "/usr/bin/sleep",
    namespacesOwnedByDaemon: true,
  };
  const status = (uid: string, nspid: string) => `Uid:\t${uid}\nNSpid:\t${nspid}\n`;
  const sleep = ["/usr/bin/sleep"];
  assertEquals(adoptableName(facts, instance, sleep), "web/1");
  assertEquals(adoptableName(facts, "@a", sleep), null, "other instance");
  assertEquals(adoptableName({ ...facts, comm: bytes("init-other\n") }, instance, sleep), null);
  for (const nspid of ["4242", "4242\t7"]) {
    assertEquals(
      adoptableName({ ...facts, status: status("0\t0\t0\t0", nspid) }, instance, sleep),
      null,
      `NSpid ${nspid}`,
    );
  }
  assertEquals(adoptableName({ ...facts, exe: "/usr/bin/bash" }, instance, sleep), null);
  assertEquals(
    adoptableName(
      { ...facts, environ: bytes(markerEnvironment(instance, "web/1").join("\0") + "\0PATH=/\0") },
      instance,
      sleep,
    ),
    null,
    "an extra variable: not one of ours",
  );
  // Issue 14: the markers alone can be faked by anyone.
  assertEquals(
    adoptableName({ ...facts, namespacesOwnedByDaemon: false }, instance, sleep),
    null,
    "namespaces owned by another user namespace (unshare -Ur)",
  );
  for (const uid of ["65534\t65534\t65534\t65534", "1000\t0\t0\t0", "0\t0\t0\t1000"]) {
    assertEquals(
      adoptableName({ ...facts, status: status(uid, "4242\t1") }, instance, sleep),
      null,
      `Uid ${uid}`,
    );
  }
  assertEquals(adoptableName({ ...facts, status: "NSpid:\t4242\t1\n" }, instance, sleep), null);
  assert(madeByDaemon(facts));
  // Spare inits (no NAME yet) are recognised, never adopted.
  const spare = { ...facts, environ: bytes(markerEnvironment(instance, "").join("\0") + "\0") };
  assertEquals(adoptableName(spare, instance, sleep), null);
  assert(spareInit(spare, instance, sleep));
  assert(!spareInit({ ...spare, namespacesOwnedByDaemon: false }, instance, sleep));
  assert(!spareInit(facts, instance, sleep));
});

Deno.test("init marker: a pool program init's NAME is read from its placeholder", () => {
  const instance = "@a";
  const exe = "/memfd:cm4all-spawn-pool (deleted)";
  const environ = (value: string) =>
    bytes(`CM4ALL_SPAWN_ACCESSORY=${instance}\0CM4ALL_SPAWN_NAME=${value}\0`);
  const facts = {
    environ: environ("web\0\0\0\0\0"), // NAME written into 8 bytes of room, zero-filled
    comm: bytes("init-web\n"),
    status: "Uid:\t0\t0\t0\t0\nNSpid:\t9\t1\n",
    exe,
    namespacesOwnedByDaemon: true,
  };
  assertEquals(adoptableName(facts, instance, ["/usr/bin/sleep", exe]), "web");
  assertEquals(adoptableName(facts, instance, ["/usr/bin/sleep"]), null, "not an accepted program");
  const spare = { ...facts, environ: environ("\x01".repeat(8)), comm: bytes("spawn-pool-pid\n") };
  assert(spareInit(spare, instance, [exe]));
  assertEquals(adoptableName(spare, instance, [exe]), null);
  const torn = { ...facts, environ: environ("web\x01\x01\x01\x01\x01") };
  assertEquals(adoptableName(torn, instance, [exe]), null, "half written: neither");
  assert(!spareInit(torn, instance, [exe]));
  const extra = { ...facts, environ: bytes(`${new TextDecoder().decode(facts.environ)}X=1\0`) };
  assertEquals(adoptableName(extra, instance, [exe]), null, "a third variable");
});

Deno.test("init marker: the comm is compared exactly, a trailing space included (issue 14)", () => {
  const instance = "@a";
  const name = "abcdefghi ";
  const facts = {
    environ: bytes(markerEnvironment(instance, name).join("\0") + "\0"),
    comm: bytes("init-abcdefghi \n"),
    status: "Uid:\t0\t0\t0\t0\nNSpid:\t9\t1\n",
    exe: "/usr/bin/sleep",
    namespacesOwnedByDaemon: true,
  };
  assertEquals(adoptableName(facts, instance, ["/usr/bin/sleep"]), name);
  assertEquals(
    adoptableName({ ...facts, comm: bytes("init-abcdefghi\n") }, instance, ["/usr/bin/sleep"]),
    null,
  );
  const latin = { ...facts, environ: new Uint8Array([...facts.environ.slice(0, -1), 0xe9, 0]) };
  assertEquals(adoptableName(latin, instance, ["/usr/bin/sleep"]), null, "non-ASCII: not ours");
});

Deno.test("process comm: only the kernel's newline is stripped; bytes compared exactly", () => {
  assert(commIs(bytes("init-abcdefghi \n"), "init-abcdefghi "));
  assert(!commIs(bytes("init-abcdefghi \n"), "init-abcdefghi"));
  assert(!commIs(bytes("init-abcdefghi\n"), "init-abcdefghi "));
  assert(commIs(bytes("i-x\t"), "i-x\t"), "no newline: compared as is");
  assert(!commIs(bytes("i-x\n\n"), "i-x"));
  assert(!commIs(new Uint8Array([0x69, 0x2d, 0xe9, 0x0a]), "i-\u00e9"), "bytes, not latin1 text");
  assertEquals(commBytes(bytes("a \n")), bytes("a "));
  assertEquals(commBytes(bytes("")), bytes(""));
});

Deno.test("rate-limited log: a burst per interval, then a count of what was left out", () => {
  let now = 0;
  const lines: string[] = [];
  const log = new RateLimitedLog("warning", 1000, 2, () => now, (_p, m) => lines.push(m));
  for (let i = 0; i < 10; i++) log.log(`event ${i}`);
  assertEquals(lines, ["event 0", "event 1"]);
  now = 1500;
  assert(log.log("event 10"));
  assertEquals(lines[2], "event 10 (8 similar lines suppressed)");
  assert(log.log("event 11"));
  assertEquals(lines[3], "event 11");
});

Deno.test("connection quota: per uid, a pool for refused uids, room kept for uid 0 (issue 14)", () => {
  const quota = new ConnectionQuota({
    maxConnections: 16,
    maxConnectionsPerUid: 3,
    maxRefusedConnections: 2,
  });
  assertEquals(rootReserve(16), 2);
  assertEquals(rootReserve(3), 0);
  assertEquals(rootReserve(10_000), 64);
  for (let i = 0; i < 3; i++) assertEquals(quota.admit(1000, true), null);
  assertEquals(quota.admit(1000, true), "uid 1000 has 3 connections open (limit 3 per uid)");
  assertEquals(quota.admit(65534, false), null);
  assertEquals(quota.admit(65533, false), null);
  assertEquals(quota.admit(65532, false), "2 connections of refused uids open (limit 2)");
  quota.release(65533, false);
  assertEquals(quota.admit(65532, false), null);
  for (let uid = 2000; uid < 2009; uid++) assertEquals(quota.admit(uid, true), null);
  assertEquals(quota.total, 14);
  assertEquals(quota.admit(3000, true), "14 connections open (limit 16, 2 kept for uid 0)");
  assertEquals(quota.admit(0, true), null);
  assertEquals(quota.admit(0, true), null);
  assertEquals(quota.admit(0, true), "16 connections open (limit 16)");
  quota.release(1000, true);
  assertEquals(quota.admit(1000, true), "15 connections open (limit 16, 2 kept for uid 0)");
  assertEquals(quota.admit(0, true), null, "uid 0 has no per-uid quota");
});
