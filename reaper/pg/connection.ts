// The object behind one pg:new(): a lazily opened connection with a FIFO of
// queries sent one at a time, reconnecting with back-off, LISTEN channels
// re-registered after every reconnect, and coalesced listen callbacks.
//
// Better than the original (spec §5.2, decision 5): while the server is
// unreachable, queued queries wait for the reconnection up to
// `waitDeadlineMs` instead of failing at the first failed attempt; a query
// lost mid-flight returns an error saying so, and unsent queries are retried.
// Configuration errors (authentication, unknown database or role, TLS
// verification, invalid options) are not waited out: they fail the queued
// queries at once, and the next query tries again.
import { ConninfoError, type ConnParams } from "./conninfo.ts";
import {
  type PgConnectionState,
  type PgConnectionStatus,
  registerPgStatus,
} from "./connection_status.ts";
import { collapseWhitespace } from "./error_format.ts";
import { ConnectError, ConnectionLostError, PgSession, type QueryOutcome } from "./session.ts";

export type { PgResult, QueryOutcome } from "./session.ts";

/** Parameters evaluated when the query is sent; a string is an error message. */
export type ParamsSource = () => (Uint8Array | null)[] | string;

export interface PgConnectionOptions {
  /** Resolved connection parameters, or the error that resolving them gave. */
  params: ConnParams | ConninfoError;
  /** Schema set with SET SCHEMA after every connect ("" = none). */
  schema?: string;
  /**
   * How long a queued query waits for a connection while the server is
   * unreachable, in ms. 0 = the original behaviour: each failed connect
   * attempt fails the oldest waiting query.
   */
  waitDeadlineMs?: number;
  /** Back-off between failed attempts: first retry immediate, then doubling. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Connection-level events (lost, failed, re-established, warnings), for the log. */
  onEvent?: (message: string) => void;
  /** What the status registry shows as the target (no password); "" = not registered. */
  statusTarget?: string;
}

/** The default for waitDeadlineMs; the daemon may change it (SPAWN_REAPER_PG_WAIT). */
export const pgDefaults = {
  waitDeadlineMs: 60_000,
  retryInitialMs: 250,
  retryMaxMs: 10_000,
};

export class DuplicateChannelError extends Error {
  override name = "DuplicateChannelError";
}

interface Request {
  sql: Uint8Array;
  params: ParamsSource | null;
  /** Internal requests (LISTEN) are never failed by the deadline. */
  internal: boolean;
  enqueuedAt: number;
  deadlineTimer?: ReturnType<typeof setTimeout>;
  cancelled: boolean;
  resolve: (outcome: QueryOutcome) => void;
}

/** A queued or running execute; cancel() drops it or cancels it on the server. */
export interface PgRequest {
  readonly outcome: Promise<QueryOutcome>;
  cancel(): void;
}

interface Channel {
  name: Uint8Array;
  callback: () => Promise<unknown>;
  running: boolean;
  pending: boolean;
}

const keyOf = (bytes: Uint8Array) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");

export class PgConnection {
  readonly #params: ConnParams | ConninfoError;
  readonly #schema: string;
  readonly #waitDeadlineMs: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #onEvent: (message: string) => void;

  #session: PgSession | null = null;
  #connecting = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failedAttempts = 0;
  #lastConnectError: string | null = null;
  #queue: Request[] = [];
  #inflight: Request | null = null;
  #channels = new Map<string, Channel>();
  #closed = false;
  #unreachableSince: number | undefined;
  #lastError: string | undefined;
  #unregister: () => void = () => {};
  #statusTarget: string;
  #registered = false;

  constructor(options: PgConnectionOptions) {
    this.#params = options.params;
    this.#schema = options.schema ?? "";
    this.#waitDeadlineMs = options.waitDeadlineMs ?? pgDefaults.waitDeadlineMs;
    this.#retryInitialMs = options.retryInitialMs ?? pgDefaults.retryInitialMs;
    this.#retryMaxMs = options.retryMaxMs ?? pgDefaults.retryMaxMs;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#statusTarget = options.statusTarget ?? "";
  }

  /** Shows up in the status registry from its first connect on (an unused pg:new does not). */
  #register(): void {
    const target = this.#statusTarget;
    if (target === "" || this.#registered || this.#closed) return;
    this.#registered = true;
    this.#unregister = registerPgStatus({ status: () => this.status(target) });
  }

  /** What connection_status.ts shows. */
  status(target: string): PgConnectionStatus {
    const state: PgConnectionState = this.#closed
      ? "closed"
      : this.#session !== null
      ? "connected"
      : this.#unreachableSince !== undefined
      ? "unreachable"
      : "connecting";
    const status: PgConnectionStatus = { target, state, queriesWaiting: this.#waiting() };
    if (state === "unreachable") status.unreachableSince = this.#unreachableSince;
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  /** Script queries queued or running (internal LISTENs not counted). */
  #waiting(): number {
    return this.#queue.filter((r) => !r.internal).length +
      (this.#inflight !== null && !this.#inflight.internal ? 1 : 0);
  }

  get connected(): boolean {
    return this.#session !== null;
  }

  /** Number of queries queued or running (for tests and shutdown). */
  get pending(): number {
    return this.#queue.length + (this.#inflight === null ? 0 : 1);
  }

  execute(sql: Uint8Array, params: ParamsSource | null = null): PgRequest {
    let resolve!: (o: QueryOutcome) => void;
    const outcome = new Promise<QueryOutcome>((r) => resolve = r);
    const request: Request = {
      sql,
      params,
      internal: false,
      enqueuedAt: performance.now(),
      cancelled: false,
      resolve,
    };
    if (this.#closed) {
      resolve({ kind: "error", message: "The connection has been closed" });
      return { outcome, cancel: () => {} };
    }
    this.#enqueue(request);
    return { outcome, cancel: () => this.#cancel(request) };
  }

  /**
   * Registers a channel (LISTEN "<name>", quoted, not escaped) and its
   * callback; notifications arriving while the callback runs collapse into
   * one more run. Throws DuplicateChannelError for a name already listened.
   */
  listen(name: Uint8Array, callback: () => Promise<unknown>): void {
    const key = keyOf(name);
    if (this.#channels.has(key)) throw new DuplicateChannelError("Duplicate notify name");
    this.#channels.set(key, { name: name.slice(), callback, running: false, pending: false });
    if (!this.#closed) this.#enqueueListen(name);
  }

  /** Shutdown: drops queued queries, cancels the running one, disconnects. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const r of this.#queue) this.#finish(r, { kind: "none" });
    this.#queue = [];
    if (this.#inflight !== null) {
      this.#inflight.cancelled = true;
      this.#session?.cancel();
    }
    this.#session?.close();
    this.#session = null;
    this.#unregister();
  }

  #enqueueListen(name: Uint8Array): void {
    this.#enqueue(listenRequest(name));
  }

  #enqueue(request: Request): void {
    this.#queue.push(request);
    if (!request.internal && this.#waitDeadlineMs > 0 && Number.isFinite(this.#waitDeadlineMs)) {
      request.deadlineTimer = setTimeout(
        () => this.#deadlineExpired(request),
        this.#waitDeadlineMs,
      );
    }
    if (this.#session === null && !this.#connecting) {
      // Queuing while disconnected connects now, cancelling a pending delay.
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#connect();
    } else {
      this.#pump();
    }
  }

  #deadlineExpired(request: Request): void {
    const index = this.#queue.indexOf(request);
    // Only a query still waiting for a connection gives up; one waiting
    // behind other queries on a live connection keeps its place.
    if (index < 0 || this.#session !== null) return;
    this.#queue.splice(index, 1);
    this.#finish(request, {
      kind: "error",
      message: collapseWhitespace(
        `${this.#lastConnectError ?? "Not connected"}; gave up after waiting ${
          this.#waitDeadlineMs / 1000
        } s for the connection`,
      ),
    });
  }

  #cancel(request: Request): void {
    if (request.cancelled) return;
    request.cancelled = true;
    const index = this.#queue.indexOf(request);
    if (index >= 0) {
      this.#queue.splice(index, 1);
      this.#finish(request, { kind: "none" });
    } else if (this.#inflight === request) {
      this.#session?.cancel();
    }
  }

  #finish(request: Request, outcome: QueryOutcome): void {
    clearTimeout(request.deadlineTimer);
    request.resolve(outcome);
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connecting || this.#session !== null) return;
    this.#register();
    this.#connecting = true;
    let session: PgSession | null = null;
    let error: string | null = null;
    let healable = true;
    try {
      if (this.#params instanceof ConninfoError) throw this.#params;
      session = await PgSession.open(this.#params, {
        onNotification: (channel) => this.#notified(channel),
        onClose: (reason) => this.#sessionClosed(session, reason),
      }, { warn: (m) => this.#onEvent(`warning: ${m}`) });
      if (this.#schema !== "") {
        const outcome = await session.query(
          new TextEncoder().encode(`SET SCHEMA '${escapeLiteral(this.#schema, session)}'`),
          null,
        );
        if (outcome.kind === "error") {
          session.close();
          throw new ConnectError(`Failed to set schema; ${outcome.message}`);
        }
      }
    } catch (e) {
      session = null;
      healable = !(e instanceof ConninfoError) && !(e instanceof ConnectError && !e.healable);
      error = e instanceof ConnectionLostError
        ? `Failed to set schema; ${e.message}`
        : e instanceof Error
        ? e.message
        : String(e);
    }
    this.#connecting = false;
    if (this.#closed) {
      session?.close();
      return;
    }
    if (session === null || session.closed) {
      this.#connectFailed(error ?? "server closed the connection unexpectedly", healable);
      return;
    }
    if (this.#failedAttempts > 0) this.#onEvent(`reconnected to ${describe(session)}`);
    this.#session = session;
    this.#failedAttempts = 0;
    this.#lastConnectError = null;
    this.#unreachableSince = undefined;
    // Re-LISTEN behind the queries that waited for this connection.
    for (const channel of this.#channels.values()) this.#queueListenOnce(channel.name);
    this.#pump();
  }

  #connectFailed(message: string, healable: boolean): void {
    const text = collapseWhitespace(message);
    if (this.#failedAttempts === 0 || !healable) {
      this.#onEvent(`PostgreSQL connect failed: ${text}`);
    }
    this.#lastConnectError = text;
    this.#lastError = text;
    this.#unreachableSince ??= performance.now();
    this.#failedAttempts++;
    if (!healable) {
      // Waiting cannot fix the configuration: fail every script query now;
      // LISTENs stay queued for the next attempt, which the next query starts.
      for (const r of this.#queue) {
        if (!r.internal) this.#finish(r, { kind: "error", message: text });
      }
      this.#queue = this.#queue.filter((r) => r.internal);
      this.#failedAttempts = 0;
      return;
    }
    if (this.#waitDeadlineMs <= 0) {
      // Original behaviour: only the oldest waiting query fails.
      const index = this.#queue.findIndex((r) => !r.internal);
      if (index >= 0) {
        this.#finish(this.#queue.splice(index, 1)[0], { kind: "error", message: text });
      }
    } else {
      const now = performance.now();
      this.#queue = this.#queue.filter((r) => {
        if (r.internal || now - r.enqueuedAt < this.#waitDeadlineMs) return true;
        this.#finish(r, { kind: "error", message: text });
        return false;
      });
    }
    if (this.#queue.length === 0) return; // connect again when a query comes
    const delay = this.#failedAttempts === 1
      ? 0
      : Math.min(this.#retryMaxMs, this.#retryInitialMs * 2 ** (this.#failedAttempts - 2));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, delay);
  }

  #sessionClosed(session: PgSession | null, reason: string): void {
    if (session === null || session !== this.#session) return;
    this.#session = null;
    if (this.#closed) return;
    this.#lastError = collapseWhitespace(reason);
    this.#unreachableSince ??= performance.now();
    this.#onEvent(`PostgreSQL connection lost: ${collapseWhitespace(reason)}`);
    // The in-flight query (if any) is answered by its own rejection.
    if (this.#inflight === null) this.#reconnectIfNeeded();
  }

  /** After a loss: reconnect now if queries wait or channels must be listened again. */
  #reconnectIfNeeded(): void {
    if (this.#closed || this.#session !== null) return;
    // Queued LISTENs keep the retries going while nothing else is queued.
    for (const channel of this.#channels.values()) this.#queueListenOnce(channel.name);
    if (this.#queue.length > 0) this.#connect();
  }

  #queueListenOnce(name: Uint8Array): void {
    const key = keyOf(listenSql(name));
    if (!this.#queue.some((r) => r.internal && keyOf(r.sql) === key)) {
      this.#queue.push(listenRequest(name));
    }
  }

  #pump(): void {
    const session = this.#session;
    if (this.#closed || session === null || this.#inflight !== null) return;
    const request = this.#queue.shift();
    if (request === undefined) return;
    clearTimeout(request.deadlineTimer);
    let params: (Uint8Array | null)[] | null = null;
    if (request.params !== null) {
      const evaluated = request.params();
      if (typeof evaluated === "string") {
        this.#finish(request, { kind: "error", message: evaluated });
        this.#pump();
        return;
      }
      params = evaluated;
    }
    this.#inflight = request;
    session.query(request.sql, params).then(
      (outcome) => {
        this.#inflight = null;
        this.#failedAttempts = 0;
        this.#finish(request, request.cancelled ? { kind: "none" } : outcome);
        this.#pump();
      },
      (e) => {
        this.#inflight = null;
        const reason = collapseWhitespace(e instanceof Error ? e.message : String(e));
        this.#finish(request, {
          kind: "error",
          message: `Connection lost while the query was running: ${reason} (${describe(session)})`,
        });
        if (this.#session === session) {
          this.#session = null;
          this.#lastError = reason;
          this.#unreachableSince ??= performance.now();
        }
        // Queued queries were not sent: they wait for the reconnection.
        this.#reconnectIfNeeded();
      },
    );
  }

  #notified(channel: Uint8Array): void {
    const entry = this.#channels.get(keyOf(channel));
    if (entry === undefined || this.#closed) return;
    if (entry.running) {
      entry.pending = true;
      return;
    }
    this.#runListener(entry);
  }

  #runListener(entry: Channel): void {
    entry.running = true;
    let done: Promise<unknown>;
    try {
      done = entry.callback();
    } catch (e) {
      done = Promise.reject(e);
    }
    done.catch(() => {}).finally(() => {
      entry.running = false;
      if (entry.pending && !this.#closed) {
        entry.pending = false;
        this.#runListener(entry);
      }
    });
  }
}

function listenSql(name: Uint8Array): Uint8Array {
  const sql = new Uint8Array(name.length + 9);
  sql.set(new TextEncoder().encode('LISTEN "'));
  sql.set(name, 8);
  sql[sql.length - 1] = 0x22;
  return sql;
}

/** An internal LISTEN request: never failed by the deadline, nobody waits for it. */
function listenRequest(name: Uint8Array): Request {
  return {
    sql: listenSql(name),
    params: null,
    internal: true,
    enqueuedAt: performance.now(),
    cancelled: false,
    resolve: () => {},
  };
}

function describe(session: PgSession): string {
  const t = session.target;
  return t.kind === "unix" ? `socket "${t.path}"` : `host "${t.hostname}", port ${t.port}`;
}

/** PQescapeStringConn: double quotes; double backslashes unless standard strings. */
function escapeLiteral(text: string, session: PgSession): string {
  let escaped = text.replaceAll("'", "''");
  if (session.parameters.get("standard_conforming_strings") === "off") {
    escaped = escaped.replaceAll("\\", "\\\\");
  }
  return escaped;
}
