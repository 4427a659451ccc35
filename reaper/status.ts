// What the reaper shows of its state: systemd's STATUS= line, the journal
// fields of its stats lines, and the control socket's answers. Formatting is
// pure; reaperState() only reads the daemon, the hook and the PostgreSQL
// connection registry.
import { printable } from "./printable.ts";
import type {
  AwaitingDeletion,
  LuaInfo,
  PgConnectionInfo,
  ReaperResponse,
  ReaperStatus,
} from "../shared/control_protocol.ts";
import type { LogFields } from "../shared/log.ts";
import { count, groupDigits } from "../shared/number_format.ts";
import type { ReleasedCgroup } from "./hook.ts";
import type { ReaperDaemon } from "./daemon.ts";
import { type PgConnectionStatus, pgConnectionStatuses } from "./pg/connection_status.ts";

/** The journal fields of a stats line: SPAWN_CGROUP always, the rest where known. */
export function statsLineFields(cgroup: Pick<ReleasedCgroup, "path" | "stats">): LogFields {
  const s = cgroup.stats;
  // The path is a byte string (reaper helper, issue 14): shown as log text.
  const fields: LogFields = { SPAWN_CGROUP: printable(cgroup.path) };
  if (s.cpuUser !== null) fields.SPAWN_CPU_USER_USEC = Math.round(s.cpuUser * 1e6);
  if (s.cpuSystem !== null) fields.SPAWN_CPU_SYSTEM_USEC = Math.round(s.cpuSystem * 1e6);
  if (s.memoryPeak !== null) fields.SPAWN_MEMORY_PEAK = s.memoryPeak;
  if (s.pidsPeak !== null) fields.SPAWN_PIDS_PEAK = s.pidsPeak;
  return fields;
}

/**
 * "PostgreSQL: connected", "PostgreSQL: unreachable for 12 s, 5 queries
 * waiting"; with several connections the worst one speaks ("1 of 2
 * unreachable for ..."). Empty without connections.
 */
export function formatPgStatus(connections: readonly PgConnectionInfo[]): string {
  const open = connections.filter((c) => c.state !== "closed");
  if (open.length === 0) return "";
  const waiting = open.reduce((n, c) => n + c.queriesWaiting, 0);
  const of = (n: number) => open.length > 1 ? `${n} of ${open.length} ` : "";
  const queries = `${count(waiting, "query", "queries")} waiting`;
  const down = open.filter((c) => c.state === "unreachable");
  if (down.length > 0) {
    const seconds = Math.max(...down.map((c) => c.unreachableSeconds ?? 0));
    return `PostgreSQL: ${of(down.length)}unreachable for ${groupDigits(seconds)} s, ${queries}`;
  }
  const connecting = open.filter((c) => c.state === "connecting");
  if (connecting.length > 0) {
    return `PostgreSQL: ${of(connecting.length)}connecting, ${queries}`;
  }
  return `PostgreSQL: ${open.length > 1 ? `${open.length} ` : ""}connected`;
}

/**
 * "3 scopes, 41 cgroups watched; 10,233 reaped, 2 awaiting deletion; Lua: 0
 * running, 0 errors; PostgreSQL: connected"
 */
export function formatReaperStatus(s: ReaperStatus): string {
  const parts = [
    `${count(s.scopes, "scope")}, ${count(s.cgroupsWatched, "cgroup")} watched`,
    `${groupDigits(s.reaped)} reaped, ${groupDigits(s.awaitingDeletion)} awaiting deletion`,
  ];
  if (s.lua.loaded) {
    const parked = s.lua.parked > 0 ? `, ${groupDigits(s.lua.parked)} parked` : "";
    parts.push(
      `Lua: ${groupDigits(s.lua.running)} running${parked}, ${count(s.lua.errors, "error")}`,
    );
  }
  const pg = formatPgStatus(s.postgresql);
  if (pg !== "") parts.push(pg);
  return parts.join("; ");
}

export function pgConnectionInfo(c: PgConnectionStatus, now: number): PgConnectionInfo {
  return {
    target: c.target,
    state: c.state,
    unreachableSeconds: c.state === "unreachable" && c.unreachableSince !== undefined
      ? Math.max(0, Math.floor((now - c.unreachableSince) / 1000))
      : null,
    queriesWaiting: c.queriesWaiting,
    lastError: c.lastError ?? null,
  };
}

/** The figures of STATUS= and of the "status" command (no per-cgroup lists). */
export function reaperStatus(
  daemon: ReaperDaemon,
  startedAt: number,
  now = performance.now(),
  summary = daemon.summary(),
): ReaperStatus {
  const hook = daemon.hook.status?.();
  const lua: LuaInfo = hook
    ? { loaded: true, ...hook }
    : { loaded: false, running: 0, parked: 0, errors: 0, lastError: null };
  const counters = daemon.counters ?? { reaped: 0, deleted: 0, rescans: 0 };
  return {
    scopes: daemon.scopes.length,
    cgroupsWatched: summary.cgroups,
    awaitingDeletion: summary.awaitingDeletion,
    reaped: counters.reaped,
    deleted: counters.deleted,
    rescans: counters.rescans,
    lua,
    postgresql: pgConnectionStatuses().map((c) => pgConnectionInfo(c, now)),
    uptimeSeconds: Math.floor((now - startedAt) / 1000),
  };
}

/** The whole picture; cgroups only with `all` (a list as long as the tree). */
export function reaperState(
  daemon: ReaperDaemon,
  startedAt: number,
  all = false,
  now = performance.now(),
): Omit<ReaperResponse, "version" | "daemon" | "pid"> {
  const view = daemon.inspect() ?? { scopes: [], cgroups: [] };
  const awaiting: AwaitingDeletion[] = view.cgroups
    .filter((c) => c.queued || c.busyRetries > 0)
    .sort(byPath)
    .map((c) => ({
      path: c.path,
      reason: c.queued ? "queued" : "busy",
      busyRetries: c.busyRetries,
    }));
  return {
    status: reaperStatus(daemon, startedAt, now, {
      cgroups: view.cgroups.length,
      awaitingDeletion: awaiting.length,
    }),
    scopes: view.scopes,
    awaitingDeletion: awaiting,
    // Sorted for stable output (the tree's order depends on arrival); only
    // on request: STATUS= asks every second.
    ...(all
      ? {
        cgroups: view.cgroups.sort(byPath).map((c) => ({
          path: c.path,
          everPopulated: c.everPopulated,
        })),
      }
      : {}),
  };
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
