// Pure logic of issue 7: access list, limits, init markers, rate-limited log.
import { assert, assertEquals } from "../assert.ts";
import {
  checkPeer,
  checkRequestLimits,
  DEFAULT_LIMITS,
  lineCount,
} from "../../accessory/limits.ts";
import { adoptableName, instanceKey, markerEnvironment } from "../../accessory/init_marker.ts";
import { RateLimitedLog } from "../../accessory/rate_limited_log.ts";
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

Deno.test("init marker: only an init of this instance with matching comm, PID 1 and exe is adopted", () => {
  const instance = instanceKey(["@b", "@a"]);
  assertEquals(instance, "@a @b");
  const facts = {
    environ: markerEnvironment(instance, "web/1").join("\0") + "\0",
    comm: "init-web_1",
    nspid: "NSpid:\t4242\t1",
    exe: "/usr/bin/sleep",
  };
  assertEquals(adoptableName(facts, instance, "/usr/bin/sleep"), "web/1");
  assertEquals(adoptableName(facts, "@a", "/usr/bin/sleep"), null, "other instance");
  assertEquals(adoptableName({ ...facts, comm: "init-other" }, instance, "/usr/bin/sleep"), null);
  assertEquals(
    adoptableName({ ...facts, nspid: "NSpid:\t4242" }, instance, "/usr/bin/sleep"),
    null,
  );
  assertEquals(
    adoptableName({ ...facts, nspid: "NSpid:\t4242\t7" }, instance, "/usr/bin/sleep"),
    null,
  );
  assertEquals(adoptableName({ ...facts, exe: "/usr/bin/bash" }, instance, "/usr/bin/sleep"), null);
  assertEquals(
    adoptableName({ ...facts, environ: facts.environ + "PATH=/bin\0" }, instance, "/usr/bin/sleep"),
    null,
    "an extra variable: not one of ours",
  );
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
