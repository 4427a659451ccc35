// `cm4all-spawnctl metrics`: OpenMetrics text from the daemons' "status"
// answers. Pure. Counters follow OpenMetrics (TYPE without, sample with
// "_total"); no UNIT or info types, which node_exporter's textfile collector
// (Prometheus text format) would reject; "# EOF" is a comment to it.
import type { AccessoryStatus, ReaperStatus } from "../shared/control_protocol.ts";

type Kind = "gauge" | "counter";

class Writer {
  readonly lines: string[] = [];

  metric(name: string, kind: Kind, help: string, samples: [string, number][] | number): void {
    this.lines.push(`# TYPE ${name} ${kind}`, `# HELP ${name} ${help}`);
    const sampleName = kind === "counter" ? `${name}_total` : name;
    const list: [string, number][] = typeof samples === "number" ? [["", samples]] : samples;
    for (const [labels, value] of list) this.lines.push(`${sampleName}${labels} ${value}`);
  }
}

const PREFIX = "cm4all_spawn";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** null: the daemon did not answer (its _up is 0, nothing else is written). */
export function formatMetrics(
  accessory: AccessoryStatus | null,
  reaper: ReaperStatus | null,
): string {
  const w = new Writer();
  const a = `${PREFIX}_accessory`;
  w.metric(`${a}_up`, "gauge", "1 if the accessory's control socket answered.", accessory ? 1 : 0);
  if (accessory) {
    w.metric(`${a}_names`, "gauge", "Live names.", accessory.names);
    w.metric(
      `${a}_pid_namespaces`,
      "gauge",
      "Names with a PID namespace.",
      accessory.pidNamespaces,
    );
    w.metric(`${a}_user_namespaces`, "gauge", "User namespaces held.", accessory.userNamespaces);
    w.metric(`${a}_leases`, "gauge", "Open leases.", accessory.leases);
    w.metric(`${a}_connections`, "gauge", "Open client connections.", accessory.connections);
    w.metric(`${a}_requests`, "counter", "Requests since start.", accessory.requests);
    w.metric(`${a}_refused`, "counter", "Requests refused since start.", accessory.refused);
    w.metric(`${a}_uptime_seconds`, "gauge", "Seconds since start.", accessory.uptimeSeconds);
  }
  const r = `${PREFIX}_reaper`;
  w.metric(`${r}_up`, "gauge", "1 if the reaper's control socket answered.", reaper ? 1 : 0);
  if (reaper) {
    w.metric(`${r}_scopes`, "gauge", "Managed scopes.", reaper.scopes);
    w.metric(`${r}_cgroups_watched`, "gauge", "Cgroups watched.", reaper.cgroupsWatched);
    w.metric(
      `${r}_awaiting_deletion`,
      "gauge",
      "Cgroups reaped and not yet deleted.",
      reaper.awaitingDeletion,
    );
    w.metric(`${r}_reaped`, "counter", "Cgroups reaped since start.", reaper.reaped);
    w.metric(`${r}_deleted`, "counter", "Cgroups deleted since start.", reaper.deleted);
    w.metric(`${r}_rescans`, "counter", "Full rescans since start.", reaper.rescans);
    w.metric(`${r}_lua_running`, "gauge", "Lua coroutines running.", reaper.lua.running);
    w.metric(`${r}_lua_parked`, "gauge", "Lua handlers parked in yield.", reaper.lua.parked);
    w.metric(`${r}_lua_errors`, "counter", "Lua errors since start.", reaper.lua.errors);
    const states = ["connecting", "connected", "unreachable"] as const;
    w.metric(
      `${r}_postgresql_connections`,
      "gauge",
      "PostgreSQL connections by state.",
      states.map((state) => [
        `{state="${escapeLabel(state)}"}`,
        reaper.postgresql.filter((c) => c.state === state).length,
      ]),
    );
    w.metric(
      `${r}_postgresql_queries_waiting`,
      "gauge",
      "Queries queued or in flight.",
      reaper.postgresql.reduce((n, c) => n + c.queriesWaiting, 0),
    );
    w.metric(
      `${r}_postgresql_unreachable_seconds`,
      "gauge",
      "Longest current PostgreSQL outage (0: none).",
      Math.max(0, ...reaper.postgresql.map((c) => c.unreachableSeconds ?? 0)),
    );
    w.metric(`${r}_uptime_seconds`, "gauge", "Seconds since start.", reaper.uptimeSeconds);
  }
  return w.lines.join("\n") + "\n# EOF\n";
}
