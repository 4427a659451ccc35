// cm4all-spawnctl's human-readable output (README, "cm4all-spawnctl"). Pure:
// answers in, text out. The layout is part of the documented interface:
// change it only with the README.
import type {
  AccessoryStatus,
  NameDetail,
  NameInfo,
  ReaperResponse,
} from "../shared/control_protocol.ts";
import { count, groupDigits } from "../shared/number_format.ts";

/** A name as shown: itself if plain printable ASCII, else JSON-quoted. */
export function showName(name: string): string {
  return /^[\x21-\x7e]+$/.test(name) && !name.startsWith('"') ? name : JSON.stringify(name);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("  ");
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

const dash = (v: number | null) => v === null ? "-" : String(v);

export function expiry(info: NameInfo): string {
  return info.secondsUntilExpiry === null ? "leased" : `${info.secondsUntilExpiry}s`;
}

export function formatNames(status: AccessoryStatus, names: NameInfo[]): string {
  const summary = `${groupDigits(status.names)} names, ${groupDigits(status.leases)} leases; ` +
    `${groupDigits(status.requests)} requests, ${groupDigits(status.refused)} refused; ` +
    `TTL ${status.namespaceTtlSeconds}s\n`;
  if (names.length === 0) return summary;
  return summary + table(
    ["NAME", "INIT", "IPC", "PID", "USER", "LEASES", "IDLE", "EXPIRES"],
    names.map((n) => [
      showName(n.name),
      dash(n.initPid),
      dash(n.namespaces.ipc),
      dash(n.namespaces.pid),
      String(n.userNamespaces),
      String(n.leases),
      `${n.secondsSinceLastRequest}s`,
      expiry(n),
    ]),
  );
}

export function formatName(n: NameDetail): string {
  const lines = [
    `name:        ${showName(n.name)}`,
    `init pid:    ${dash(n.initPid)}`,
    `ipc:         ${n.namespaces.ipc === null ? "-" : `ipc:[${n.namespaces.ipc}]`}`,
    `pid:         ${n.namespaces.pid === null ? "-" : `pid:[${n.namespaces.pid}]`}`,
    `leases:      ${n.leases}`,
    `idle:        ${n.secondsSinceLastRequest}s`,
    `expires in:  ${expiry(n)}`,
    `user namespaces: ${n.userNamespaces}`,
  ];
  for (const u of n.userNamespaceMaps) {
    lines.push(`  ${u.inode === null ? "(being made)" : `user:[${u.inode}]`}`);
    for (const [file, map] of [["uid_map", u.uidMap], ["gid_map", u.gidMap]]) {
      const rows = map.split("\n").filter((l) => l.trim() !== "");
      if (rows.length === 0) lines.push(`    ${file}: (empty)`);
      for (const row of rows) lines.push(`    ${file}: ${row.trim().replace(/\s+/g, " ")}`);
    }
  }
  return lines.join("\n") + "\n";
}

export function formatReaper(r: Omit<ReaperResponse, "version" | "daemon" | "pid">): string {
  const s = r.status;
  const lines: string[] = [];
  lines.push(`scopes: ${s.scopes}`);
  for (const scope of r.scopes) {
    lines.push(`  ${scope.path}${scope.present ? "" : " (absent)"}`);
  }
  lines.push(`cgroups watched: ${groupDigits(s.cgroupsWatched)}`);
  if (r.cgroups !== undefined) {
    for (const c of r.cgroups) {
      lines.push(`  ${c.path}${c.everPopulated ? " (populated once)" : " (never populated)"}`);
    }
  }
  lines.push(`awaiting deletion: ${groupDigits(s.awaitingDeletion)}`);
  for (const a of r.awaitingDeletion) {
    lines.push(
      `  ${a.path}: ${a.reason === "queued" ? "queued" : `EBUSY ${a.busyRetries} times, retrying`}`,
    );
  }
  if (s.lua.loaded) {
    lines.push(
      `Lua: ${s.lua.running} running, ${s.lua.parked} parked, ${groupDigits(s.lua.errors)} errors`,
    );
    lines.push(`last Lua error: ${s.lua.lastError ?? "none"}`);
  } else {
    lines.push("Lua: no script");
  }
  if (s.postgresql.length === 0) {
    lines.push("PostgreSQL: no connections");
  } else {
    lines.push("PostgreSQL:");
    for (const c of s.postgresql) {
      const down = c.state === "unreachable" && c.unreachableSeconds !== null
        ? ` for ${c.unreachableSeconds}s`
        : "";
      const error = c.lastError ? `; last error: ${c.lastError}` : "";
      lines.push(
        `  ${c.target}: ${c.state}${down}, ${count(c.queriesWaiting, "query", "queries")} ` +
          `waiting${error}`,
      );
    }
  }
  lines.push(
    `since start: ${groupDigits(s.reaped)} reaped, ${groupDigits(s.deleted)} deleted, ` +
      `${groupDigits(s.rescans)} rescans; up ${groupDigits(s.uptimeSeconds)}s`,
  );
  return lines.join("\n") + "\n";
}
