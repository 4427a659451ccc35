// What the daemon's status line and control socket show of each PostgreSQL
// connection a script opened. Connections register themselves here; readers
// (reaper/daemon.ts, the control socket) only look.

export type PgConnectionState = "connecting" | "connected" | "unreachable" | "closed";

export interface PgConnectionStatus {
  /** Where it connects, without any password (e.g. "host=/run/postgresql dbname=acct"). */
  target: string;
  state: PgConnectionState;
  /** performance.now() when the current outage began (state "unreachable"). */
  unreachableSince?: number;
  /** Queries queued or in flight, not yet answered. */
  queriesWaiting: number;
  /** The last connection error, as logged. */
  lastError?: string;
}

export interface PgStatusSource {
  status(): PgConnectionStatus;
}

const sources = new Set<PgStatusSource>();

export function registerPgStatus(source: PgStatusSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

export function pgConnectionStatuses(): PgConnectionStatus[] {
  return [...sources].map((s) => s.status());
}
