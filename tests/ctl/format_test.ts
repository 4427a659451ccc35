// Pure parts of item 13: the STATUS= texts, journal entry encoding, the
// control protocol's request checks, spawnctl's text and OpenMetrics output,
// the STATUS= throttle. No root, no daemons.
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { formatAccessoryStatus } from "../../accessory/status.ts";
import { emptyStats } from "../../reaper/cgroup/stats.ts";
import { formatPgStatus, formatReaperStatus, statsLineFields } from "../../reaper/status.ts";
import { decodeJournalEntry, encodeJournalEntry, isValidFieldName } from "../../shared/journal.ts";
import { journalEntry } from "../../shared/log.ts";
import {
  ControlProtocolError,
  defaultControlPath,
  parseRequest,
  parseResponse,
  type PgConnectionInfo,
  type ReaperStatus,
} from "../../shared/control_protocol.ts";
import { groupDigits } from "../../shared/number_format.ts";
import { StatusNotifier } from "../../shared/systemd.ts";
import { formatMetrics } from "../../spawnctl/metrics.ts";
import { formatName, formatNames, showName } from "../../spawnctl/text.ts";
import { parseOpenMetrics } from "./ctl_harness.ts";

const LUA = { loaded: true, running: 0, parked: 0, errors: 0, lastError: null };
const reaperStatus = (over: Partial<ReaperStatus> = {}): ReaperStatus => ({
  scopes: 3,
  cgroupsWatched: 41,
  awaitingDeletion: 2,
  reaped: 10233,
  deleted: 10231,
  rescans: 0,
  lua: LUA,
  postgresql: [],
  uptimeSeconds: 5,
  ...over,
});
const pg = (over: Partial<PgConnectionInfo>): PgConnectionInfo => ({
  target: "host=/run/postgresql dbname=acct",
  state: "connected",
  unreachableSeconds: null,
  queriesWaiting: 0,
  lastError: null,
  ...over,
});

Deno.test("STATUS= texts read as the issue shows them", () => {
  assertEquals(
    formatAccessoryStatus({
      names: 12,
      pidNamespaces: 12,
      userNamespaces: 3,
      leases: 4,
      requests: 1203344,
      refused: 0,
      connections: 2,
      namespaceTtlSeconds: 60,
      uptimeSeconds: 9,
    }),
    "12 names (12 PID, 3 user namespaces), 4 leases; 1,203,344 requests, 0 refused",
  );
  assertEquals(
    formatReaperStatus(reaperStatus({ postgresql: [pg({})] })),
    "3 scopes, 41 cgroups watched; 10,233 reaped, 2 awaiting deletion; Lua: 0 running, 0 errors; " +
      "PostgreSQL: connected",
  );
  assertEquals(
    formatReaperStatus(reaperStatus({
      postgresql: [pg({ state: "unreachable", unreachableSeconds: 12, queriesWaiting: 5 })],
    })),
    "3 scopes, 41 cgroups watched; 10,233 reaped, 2 awaiting deletion; Lua: 0 running, 0 errors; " +
      "PostgreSQL: unreachable for 12 s, 5 queries waiting",
  );
  // Singulars; no script: no Lua part; no connections: no PostgreSQL part.
  assertEquals(
    formatReaperStatus(reaperStatus({
      scopes: 1,
      cgroupsWatched: 1,
      lua: { ...LUA, loaded: false },
    })),
    "1 scope, 1 cgroup watched; 10,233 reaped, 2 awaiting deletion",
  );
  assertEquals(
    formatReaperStatus(reaperStatus({ lua: { ...LUA, running: 2, parked: 1, errors: 1 } })),
    "3 scopes, 41 cgroups watched; 10,233 reaped, 2 awaiting deletion; " +
      "Lua: 2 running, 1 parked, 1 error",
  );
});

Deno.test("PostgreSQL part: the worst connection speaks; closed ones are left out", () => {
  assertEquals(formatPgStatus([]), "");
  assertEquals(formatPgStatus([pg({ state: "closed" })]), "");
  assertEquals(formatPgStatus([pg({}), pg({})]), "PostgreSQL: 2 connected");
  assertEquals(
    formatPgStatus([
      pg({ queriesWaiting: 1 }),
      pg({ state: "unreachable", unreachableSeconds: 3, queriesWaiting: 1 }),
    ]),
    "PostgreSQL: 1 of 2 unreachable for 3 s, 2 queries waiting",
  );
  assertEquals(
    formatPgStatus([pg({ state: "connecting", queriesWaiting: 1 })]),
    "PostgreSQL: connecting, 1 query waiting",
  );
});

Deno.test("groupDigits", () => {
  assertEquals([0, 999, 1000, 1203344, -12345].map(groupDigits), [
    "0",
    "999",
    "1,000",
    "1,203,344",
    "-12,345",
  ]);
});

Deno.test("journal entries: simple fields, binary-safe values with newlines, round trip", () => {
  const entry = encodeJournalEntry({ MESSAGE: "a\nb", PRIORITY: 6, SPAWN_NAME: "x=y" });
  const text = new TextDecoder().decode(entry);
  assert(text.startsWith("MESSAGE\n"), text);
  // "MESSAGE\n" + u64 LE length 3 + "a\nb\n"
  assertEquals([...entry.subarray(8, 16)], [3, 0, 0, 0, 0, 0, 0, 0]);
  assert(text.endsWith("PRIORITY=6\nSPAWN_NAME=x=y\n"), text);
  const back = decodeJournalEntry(entry);
  const d = new TextDecoder();
  assertEquals(
    [...back].map(([k, v]) => [k, d.decode(v)]),
    [["MESSAGE", "a\nb"], ["PRIORITY", "6"], ["SPAWN_NAME", "x=y"]],
  );
  assert(
    assertThrows(() => encodeJournalEntry({ _PID: 1 }), "invalid journal field name") instanceof
      RangeError,
  );
  assertEquals(["SPAWN_NAME", "MESSAGE", "_PID", "lower", "A-B", ""].map(isValidFieldName), [
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
});

Deno.test("journalEntry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, then the fields", () => {
  const fields = decodeJournalEntry(
    journalEntry("warning", "refused", { SPAWN_PEER_UID: 65534 }, "cm4all-spawn-accessory"),
  );
  const d = new TextDecoder();
  assertEquals([...fields].map(([k, v]) => `${k}=${d.decode(v)}`), [
    "MESSAGE=refused",
    "PRIORITY=4",
    "SYSLOG_IDENTIFIER=cm4all-spawn-accessory",
    "SPAWN_PEER_UID=65534",
  ]);
});

Deno.test("stats line fields: SPAWN_CGROUP always, values only where known", () => {
  const none = emptyStats();
  assertEquals(statsLineFields({ path: "/system.slice/x.scope/a", stats: none }), {
    SPAWN_CGROUP: "/system.slice/x.scope/a",
  });
  assertEquals(
    statsLineFields({
      path: "/s/a",
      stats: { ...none, cpuUser: 1.5, cpuSystem: 0.000001, memoryPeak: 2 ** 40, pidsPeak: 7 },
    }),
    {
      SPAWN_CGROUP: "/s/a",
      SPAWN_CPU_USER_USEC: 1500000,
      SPAWN_CPU_SYSTEM_USEC: 1,
      SPAWN_MEMORY_PEAK: 2 ** 40,
      SPAWN_PIDS_PEAK: 7,
    },
  );
});

Deno.test("control requests: clear errors for what is wrong", () => {
  assertEquals(parseRequest('{"version":1,"command":"names"}').command, "names");
  assertEquals(parseRequest('{"version":1,"command":"name","name":"a"}').name, "a");
  for (
    const [line, message] of [
      ["names", "request is not JSON"],
      ["[]", "request is not a JSON object"],
      ['{"version":2,"command":"names"}', "protocol version 2 (this daemon speaks 1)"],
      ['{"version":1,"command":"kill"}', 'unknown command "kill"'],
      ['{"version":1,"command":"name"}', "command 'name' needs 'name'"],
      ['{"version":1,"command":"reaper","all":1}', "'all' must be true or false"],
    ]
  ) {
    assert(assertThrows(() => parseRequest(line), message) instanceof ControlProtocolError);
  }
  assertThrows(() => parseResponse(""), "empty answer");
  assertThrows(
    () => parseResponse('{"version":1,"daemon":"other"}'),
    'unknown daemon "other"',
  );
});

Deno.test("default control paths: $RUNTIME_DIRECTORY's first entry, else /run/<daemon>", () => {
  assertEquals(defaultControlPath("accessory", undefined), "/run/cm4all-spawn-accessory/control");
  assertEquals(defaultControlPath("reaper", ""), "/run/cm4all-spawn-reaper/control");
  assertEquals(defaultControlPath("reaper", "/run/a/:/run/b"), "/run/a/control");
});

Deno.test("spawnctl text: names table, one name with maps, odd names quoted", () => {
  const info = {
    name: "web-1",
    namespaces: { ipc: 4026532001, pid: 4026532002, user: [4026532003] },
    initPid: 1234,
    leases: 1,
    userNamespaces: 1,
    secondsSinceLastRequest: 3,
    secondsUntilExpiry: null,
  };
  const status = {
    names: 1,
    pidNamespaces: 1,
    userNamespaces: 1,
    leases: 1,
    requests: 1203344,
    refused: 0,
    connections: 0,
    namespaceTtlSeconds: 60,
    uptimeSeconds: 1,
  };
  assertEquals(
    formatNames(status, [info]),
    "1 names, 1 leases; 1,203,344 requests, 0 refused; TTL 60s\n" +
      "NAME   INIT  IPC         PID         USER  LEASES  IDLE  EXPIRES\n" +
      "web-1  1234  4026532001  4026532002  1     1       3s    leased\n",
  );
  assertEquals(
    formatName({
      ...info,
      userNamespaceMaps: [{ inode: 4026532003, uidMap: "0 1000 1\n", gidMap: "" }],
    }),
    [
      "name:        web-1",
      "init pid:    1234",
      "ipc:         ipc:[4026532001]",
      "pid:         pid:[4026532002]",
      "leases:      1",
      "idle:        3s",
      "expires in:  leased",
      "user namespaces: 1",
      "  user:[4026532003]",
      "    uid_map: 0 1000 1",
      "    gid_map: (empty)",
      "",
    ].join("\n"),
  );
  assertEquals(showName("a b"), '"a b"');
  assertEquals(showName("tab\there"), '"tab\\there"');
});

Deno.test("metrics: parseable OpenMetrics for both daemons, or _up 0", () => {
  const text = formatMetrics(null, reaperStatus({ postgresql: [pg({ queriesWaiting: 2 })] }));
  assertMatch(text, /^# TYPE cm4all_spawn_accessory_up gauge$/m);
  const m = parseOpenMetrics(text);
  assertEquals(m.get("cm4all_spawn_accessory_up"), 0);
  assertEquals(m.has("cm4all_spawn_accessory_names"), false);
  assertEquals(m.get("cm4all_spawn_reaper_reaped_total"), 10233);
  assertEquals(m.get('cm4all_spawn_reaper_postgresql_connections{state="connected"}'), 1);
  assertEquals(m.get("cm4all_spawn_reaper_postgresql_queries_waiting"), 2);
  assertEquals(m.get("cm4all_spawn_reaper_postgresql_unreachable_seconds"), 0);
});

Deno.test("StatusNotifier sends a text only when it changed", () => {
  const sent: string[] = [];
  let text = "a";
  const notifier = new StatusNotifier(() => text, (s) => (sent.push(s), true));
  notifier.update();
  notifier.update();
  text = "b\nc";
  notifier.update();
  assertEquals(sent, ["STATUS=a", "STATUS=b c"]);
  // A failed send (systemd away) is retried at the next tick.
  const attempts: string[] = [];
  const flaky = new StatusNotifier(() => "x", (state) => {
    attempts.push(state);
    if (attempts.length === 1) throw new Error("ECONNREFUSED");
    return true;
  });
  flaky.update();
  flaky.update();
  flaky.update();
  assertEquals(attempts, ["STATUS=x", "STATUS=x"]);
});
