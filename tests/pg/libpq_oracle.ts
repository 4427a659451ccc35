// Test helpers for the libpq compatibility tests: one query through our
// client, and the same connection string through `psql` (libpq, the oracle).
import { PgConnection, type QueryOutcome } from "../../reaper/pg/connection.ts";
import { ConninfoError, type ConnParams, resolveConninfo } from "../../reaper/pg/conninfo.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const testOpts = { sanitizeOps: false, sanitizeResources: false };

export interface QueryRun {
  outcome: QueryOutcome;
  events: string[];
}

/**
 * Opens a connection, runs one query, closes. waitDeadlineMs defaults to
 * 10 minutes: a configuration error must come back without waiting at all
 * (a healable one would hang the test until its own timeout).
 */
export async function queryWith(
  conninfo: string,
  sql: string,
  env: Record<string, string> = {},
  waitDeadlineMs = 600_000,
): Promise<QueryRun> {
  const events: string[] = [];
  let params: ConnParams | ConninfoError;
  try {
    params = resolveConninfo(conninfo, { HOME: "/nonexistent", ...env }, "root");
  } catch (e) {
    // As pg:new does: the connection's queries report it.
    if (!(e instanceof ConninfoError)) throw e;
    params = e;
  }
  const c = new PgConnection({
    params,
    waitDeadlineMs,
    retryInitialMs: 50,
    retryMaxMs: 200,
    onEvent: (m) => events.push(m),
  });
  try {
    return { outcome: await c.execute(enc.encode(sql)).outcome, events };
  } finally {
    c.close();
  }
}

/** The first value of the result; throws with the message on an error. */
export function valueOf(run: QueryRun): string | null {
  const o = run.outcome;
  if (o.kind !== "result") throw new Error(`expected a result, got ${JSON.stringify(o)}`);
  const v = o.result.rows[0]?.[0];
  return v === null || v === undefined ? null : dec.decode(v);
}

/** The error message (throws if the query succeeded). */
export function errorOf(run: QueryRun): string {
  const o = run.outcome;
  if (o.kind !== "error") throw new Error(`expected an error, got ${JSON.stringify(o)}`);
  return o.message;
}

/** psql with the same connection string: its stdout, or its stderr when it failed. */
export async function psqlOracle(
  conninfo: string,
  sql: string,
  env: Record<string, string> = {},
): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command("/usr/lib/postgresql/15/bin/psql", {
    args: ["-X", "-w", "-A", "-t", "-c", sql, conninfo],
    env: { HOME: "/nonexistent", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    ok: out.success,
    text: dec.decode(out.success ? out.stdout : out.stderr).trim().replace(/\s+/g, " "),
  };
}
