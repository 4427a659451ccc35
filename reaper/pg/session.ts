// One physical connection to a PostgreSQL server: connect (Unix socket or TCP,
// optional TLS), authenticate, run one query at a time, deliver
// notifications, cancel. No queueing or reconnecting here (connection.ts).
import * as net from "node:net";
import * as tls from "node:tls";
import { type ChannelBindingFlag, md5Password, ScramClient, tlsServerEndPoint } from "./auth.ts";
import {
  AUTH_REQ,
  type ConnParams,
  describeTarget,
  type PgTarget,
  type TargetSessionAttrs,
} from "./conninfo.ts";
import { findPassword, readPassfile } from "./passfile.ts";
import { applyTcpOptions, findTcpFd, newPeerUids, socketFds } from "./socket_options.ts";
import { loadTlsFiles, type TlsFiles, verifyHostName } from "./tls_files.ts";
import { checkRevocation } from "./crl.ts";
import { passwdNameForUid } from "./os_user.ts";
import { formatServerError } from "./error_format.ts";
import {
  type BackendMessage,
  BodyReader,
  cancelRequest,
  copyFail,
  extendedQuery,
  MessageReader,
  parseDataRow,
  parseErrorFields,
  parseNotification,
  parseRowDescription,
  passwordMessage,
  queryMessage,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  startupMessage,
  terminateMessage,
} from "./protocol.ts";

const decoder = new TextDecoder();

/** One statement's rows, values as text bytes (null = SQL NULL). */
export interface PgResult {
  columns: Uint8Array[];
  rows: (Uint8Array | null)[][];
  /** CommandComplete tag, e.g. "INSERT 0 1"; "" for an empty query. */
  command: string;
}

export type QueryOutcome =
  | { kind: "result"; result: PgResult }
  /** A server error in libpq's text form ("ERROR:  ...\n"). */
  | { kind: "error"; message: string }
  /** The server sent no result at all. */
  | { kind: "none" };

/** The connection broke (or was closed) while a query was outstanding. */
export class ConnectionLostError extends Error {
  override name = "ConnectionLostError";
}

/**
 * Connecting or authenticating failed; the message names the target(s).
 * healable: waiting may help (refused, reset, timeout, server starting up or
 * shutting down); otherwise it is a configuration error that fails at once.
 */
export class ConnectError extends Error {
  override name = "ConnectError";
  readonly healable: boolean;
  constructor(message: string, healable = true) {
    super(message);
    this.healable = healable;
  }
}

/** One attempt's failure (no target prefix yet). */
class AttemptError extends Error {
  override name = "AttemptError";
  constructor(
    message: string,
    readonly healable: boolean,
    /** The server answered the startup with an error: libpq's sslmode fallbacks apply. */
    readonly serverRejected = false,
  ) {
    super(message);
  }
}

/** SQLSTATEs of startup errors that go away by themselves. */
function healableSqlState(code: string | undefined): boolean {
  return code !== undefined &&
    (code === "57P03" || // cannot_connect_now: starting up, shutting down, recovery
      code === "57P01" || // admin_shutdown
      code === "57P02" || // crash_shutdown
      code === "53300" || // too_many_connections
      code === "53000" || // insufficient_resources
      code.startsWith("08")); // connection exceptions
}

/** Socket errors that go away by themselves (anything else is configuration). */
const HEALABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "EAGAIN",
]);

function socketAttemptError(error: unknown, prefix = ""): AttemptError {
  const code = (error as { code?: string }).code;
  return new AttemptError(
    prefix + socketErrorText(error),
    code === undefined || HEALABLE_ERRNOS.has(code),
  );
}

/** Hooks the connect path uses for what libpq prints on stderr. */
export interface OpenHooks {
  warn?(message: string): void;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "No such file or directory",
  ECONNREFUSED: "Connection refused",
  EACCES: "Permission denied",
  ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  ECONNRESET: "Connection reset by peer",
  EPIPE: "Broken pipe",
  EADDRNOTAVAIL: "Cannot assign requested address",
};

function socketErrorText(error: unknown): string {
  const e = error as { code?: string; message?: string };
  if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") {
    return `could not translate host name: ${e.message ?? e.code}`;
  }
  if (e.code !== undefined && ERRNO_TEXT[e.code] !== undefined) return ERRNO_TEXT[e.code];
  return e.message ?? String(error);
}

type Socket = net.Socket | tls.TLSSocket;

interface Operation {
  handle(msg: BackendMessage): void;
  fail(error: Error): void;
}

export interface SessionEvents {
  onNotification?(channel: Uint8Array, payload: Uint8Array, pid: number): void;
  /** The connection ended while no query was outstanding (or afterwards). */
  onClose?(reason: string): void;
}

export class PgSession {
  readonly target: PgTarget;
  #socket: Socket;
  #reader = new MessageReader();
  #op: Operation | null = null;
  #closed = false;
  /** A FATAL error the server sent before closing (admin shutdown etc.). */
  #fatal: string | null = null;
  #events: SessionEvents;
  readonly parameters = new Map<string, string>();
  pid = 0;
  secret = 0;

  private constructor(target: PgTarget, socket: Socket, events: SessionEvents) {
    this.target = target;
    this.#socket = socket;
    this.#events = events;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Tries each target in turn (shuffled with load_balance_hosts=random) until
   * one gives a session with the target_session_attrs asked for; throws
   * ConnectError naming every failure.
   */
  static async open(
    params: ConnParams,
    events: SessionEvents = {},
    hooks: OpenHooks = {},
  ): Promise<PgSession> {
    const failures: string[] = [];
    let healable = false;
    const targets = params.loadBalance ? shuffled(params.targets) : params.targets;
    // prefer-standby: a standby if any, else any server (libpq's second pass).
    const passes: TargetSessionAttrs[] = params.targetSessionAttrs === "prefer-standby"
      ? ["standby", "any"]
      : [params.targetSessionAttrs];
    for (const attrs of passes) {
      for (const target of targets) {
        try {
          return await PgSession.#openTarget(params, target, events, attrs, hooks);
        } catch (e) {
          failures.push(e instanceof Error ? e.message : String(e));
          if (!(e instanceof AttemptError) || e.healable) healable = true;
        }
      }
    }
    throw new ConnectError(failures.join("\n"), healable);
  }

  /** One target with libpq's sslmode fallbacks (allow: plain then TLS; prefer: TLS then plain). */
  static async #openTarget(
    params: ConnParams,
    target: PgTarget,
    events: SessionEvents,
    attrs: TargetSessionAttrs,
    hooks: OpenHooks,
  ): Promise<PgSession> {
    const where = `connection to ${describeTarget(target)} failed`;
    // libpq never uses TLS on Unix sockets.
    const plans: boolean[] = target.kind === "unix"
      ? [false]
      : ({ disable: [false], allow: [false, true], prefer: [true, false] } as Record<
        string,
        boolean[]
      >)[params.sslmode] ?? [true];
    const messages: string[] = [];
    for (let i = 0; i < plans.length; i++) {
      try {
        return await PgSession.#attempt(params, target, events, attrs, plans[i], hooks);
      } catch (e) {
        const error = e instanceof AttemptError ? e : new AttemptError(String(e), false);
        messages.push(`${where}: ${error.message}`);
        const last = i === plans.length - 1;
        // The fallback applies when the server refused the session (or, for
        // prefer, the TLS handshake failed); not to an unreachable server.
        if (last || !(error.serverRejected || (plans[i] && error.message.startsWith("SSL")))) {
          throw new AttemptError(messages.join("\n"), error.healable);
        }
      }
    }
    throw new AttemptError(messages.join("\n"), true); // not reached
  }

  static async #attempt(
    params: ConnParams,
    target: PgTarget,
    events: SessionEvents,
    attrs: TargetSessionAttrs,
    useTls: boolean,
    hooks: OpenHooks,
  ): Promise<PgSession> {
    let socket: Socket | null = null;
    let session: PgSession | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (params.connectTimeout !== null) {
        timer = setTimeout(
          () => reject(new AttemptError("timeout expired", true)),
          params.connectTimeout * 1000,
        );
      }
    });
    timeout.catch(() => {});
    const connecting = connectSocket(target, params);
    try {
      socket = await Promise.race([connecting, timeout]);
      if (useTls && target.kind === "tcp") {
        socket = await Promise.race([
          startTls(socket, target.serverName ?? target.hostname, params),
          timeout,
        ]);
      }
      session = new PgSession(target, socket, events);
      session.#attach();
      await Promise.race([session.#startup(params, hooks), timeout]);
      const refusal = await Promise.race([session.#checkSessionAttrs(attrs), timeout]);
      if (refusal !== null) throw new AttemptError(refusal, true);
      return session;
    } catch (e) {
      if (session !== null) {
        session.#events = {};
        session.close(); // Terminate, so the server does not log a lost client
      } else if (socket !== null) socket.destroy();
      // A connect still under way after the timeout is dropped when it completes.
      else connecting.then((s) => s.destroy(), () => {});
      if (e instanceof AttemptError) throw e;
      throw new AttemptError(
        e instanceof Error ? e.message : String(e),
        e instanceof ConnectionLostError,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why this session does not have the attributes asked for, or null (libpq 14+ rules). */
  async #checkSessionAttrs(attrs: TargetSessionAttrs): Promise<string | null> {
    if (attrs === "any") return null;
    const setting = async (param: string, sql: string): Promise<boolean> => {
      let value = this.parameters.get(param);
      if (value === undefined) {
        // Servers before 14 do not report it: ask.
        const outcome = await this.query(new TextEncoder().encode(sql), null);
        const cell = outcome.kind === "result" ? outcome.result.rows[0]?.[0] : null;
        value = cell ? decoder.decode(cell) : "off";
        if (value === "t") value = "on";
      }
      return value === "on";
    };
    const standby = () => setting("in_hot_standby", "SELECT pg_catalog.pg_is_in_recovery()");
    switch (attrs) {
      case "read-write":
      case "read-only": {
        const readOnly =
          await setting("default_transaction_read_only", "SHOW transaction_read_only") ||
          await standby();
        if (attrs === "read-write" && readOnly) return "session is read-only";
        if (attrs === "read-only" && !readOnly) return "session is not read-only";
        return null;
      }
      case "primary":
        return (await standby()) ? "server is in hot standby mode" : null;
      default: // standby (prefer-standby's first pass too)
        return (await standby()) ? null : "server is not in hot standby mode";
    }
  }

  #attach(): void {
    this.#socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    this.#socket.on("error", (e: unknown) => this.#terminate(socketErrorText(e)));
    this.#socket.on("close", () => this.#terminate(null));
  }

  #onData(chunk: Uint8Array): void {
    this.#reader.push(chunk);
    try {
      for (let msg = this.#reader.next(); msg !== null; msg = this.#reader.next()) {
        this.#dispatch(msg);
      }
    } catch (e) {
      this.#terminate(`protocol error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #dispatch(msg: BackendMessage): void {
    switch (msg.type) {
      case "A": {
        const n = parseNotification(msg.body);
        this.#events.onNotification?.(n.channel, n.payload, n.pid);
        return;
      }
      case "N":
        return; // notices are not errors; libpq prints them, we drop them
      case "S": {
        const r = new BodyReader(msg.body);
        this.parameters.set(r.cstr(), r.cstr());
        return;
      }
      case "E": {
        const fields = parseErrorFields(msg.body);
        if (fields.get("V") === "FATAL" || fields.get("V") === "PANIC" || this.#op === null) {
          this.#fatal = formatServerError(fields, null).trimEnd();
        }
        break;
      }
    }
    this.#op?.handle(msg);
  }

  #terminate(reason: string | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    const text = this.#fatal ?? reason ?? "server closed the connection unexpectedly";
    const op = this.#op;
    this.#op = null;
    op?.fail(new ConnectionLostError(text));
    this.#events.onClose?.(text);
  }

  #write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** The password: given, or from the password file for this target. */
  #password(
    params: ConnParams,
    hooks: OpenHooks,
  ): { password: string | null; file: string | null } {
    if (params.password !== null) return { password: params.password, file: null };
    if (params.passfile === null) return { password: null, file: null };
    const text = readPassfile(params.passfile, (m) => hooks.warn?.(m));
    if (text === null) return { password: null, file: null };
    const t = this.target;
    const password = findPassword(
      text,
      t.passHost ?? (t.kind === "tcp" ? t.hostname : "localhost"),
      String(t.port),
      params.dbname,
      params.user,
    );
    return { password, file: password === null ? null : params.passfile };
  }

  #startup(params: ConnParams, hooks: OpenHooks): Promise<void> {
    const startup: Record<string, string> = { user: params.user, database: params.dbname };
    if (params.applicationName !== null) startup.application_name = params.applicationName;
    if (params.options !== null) startup.options = params.options;
    if (params.clientEncoding !== null) startup.client_encoding = params.clientEncoding;
    Object.assign(startup, params.extraStartup);
    const tlsSocket = this.#socket instanceof tls.TLSSocket ? this.#socket : null;
    const { password, file: passwordFile } = this.#password(params, hooks);
    const requireAuth = params.requireAuth;
    return new Promise<void>((resolve, reject) => {
      let scram: ScramClient | null = null;
      let finishedAuth = false;
      const fatal = (message: string) => new AttemptError(message, false);
      const needPassword = () => {
        if (password === null) throw fatal("fe_sendauth: no password supplied");
        return password;
      };
      // libpq's check_expected_areq: require_auth, then channel_binding=require.
      const checkRequest = (code: number) => {
        if (requireAuth !== null) {
          let ok: boolean;
          let reason: string | null = null;
          if (code === AUTH_REQ.ok) {
            ok = !requireAuth.authRequired || finishedAuth;
            if (!ok) reason = "server did not complete authentication";
          } else {
            ok = requireAuth.allowed.has(code >= AUTH_REQ.sasl ? AUTH_REQ.sasl : code);
          }
          if (!ok) {
            throw fatal(
              `authentication method requirement "${requireAuth.text}" failed: ${
                reason ?? authDescription(code)
              }`,
            );
          }
        }
        if (params.channelBinding === "require") {
          if (code === AUTH_REQ.ok) {
            if (!(scram?.channelBound ?? false)) {
              throw fatal(
                "channel binding required, but server authenticated client without channel binding",
              );
            }
          } else if (code < AUTH_REQ.sasl || code > 12) {
            throw fatal(
              "channel binding required but not supported by server's authentication request",
            );
          }
        }
      };
      this.#op = {
        fail: (e) => reject(new AttemptError(e.message, true)),
        handle: (msg) => {
          try {
            switch (msg.type) {
              case "R": {
                const r = new BodyReader(msg.body);
                const code = r.i32();
                checkRequest(code);
                if (code === AUTH_REQ.ok) return;
                if (code === AUTH_REQ.password) {
                  this.#write(passwordMessage(new TextEncoder().encode(needPassword())));
                  finishedAuth = true;
                } else if (code === AUTH_REQ.md5) {
                  this.#write(
                    passwordMessage(md5Password(params.user, needPassword(), r.bytes(4))),
                  );
                  finishedAuth = true;
                } else if (code === AUTH_REQ.sasl) {
                  scram = this.#saslInit(
                    params,
                    decoder.decode(r.rest()).split("\0"),
                    tlsSocket,
                    needPassword(),
                  );
                  this.#write(saslInitialResponse(scram.mechanism, scram.clientFirst()));
                } else if (code === 11 && scram !== null) {
                  this.#write(saslResponse(scram.clientFinal(r.rest())));
                } else if (code === 12 && scram !== null) {
                  scram.verifyServerFinal(r.rest());
                  finishedAuth = true;
                } else {
                  throw fatal(`authentication method ${code} not supported`);
                }
                return;
              }
              case "K": {
                const r = new BodyReader(msg.body);
                this.pid = r.i32();
                this.secret = r.i32();
                return;
              }
              case "E": {
                this.#fatal = null;
                const fields = parseErrorFields(msg.body);
                let text = formatServerError(fields, null).trimEnd();
                if (fields.get("C") === "28P01" && passwordFile !== null) {
                  text += `\npassword retrieved from file "${passwordFile}"`;
                }
                throw new AttemptError(text, healableSqlState(fields.get("C")), true);
              }
              case "Z":
                this.#op = null;
                resolve();
                return;
              case "v":
                return; // NegotiateProtocolVersion: minor version or options ignored
              default:
                throw fatal(`unexpected message type "${msg.type}" during startup`);
            }
          } catch (e) {
            this.#op = null;
            reject(
              e instanceof AttemptError ? e : fatal(e instanceof Error ? e.message : String(e)),
            );
            this.#socket.destroy();
          }
        },
      };
      this.#write(startupMessage(startup));
    });
  }

  /** libpq's pg_SASL_init: the mechanism and channel binding to use. */
  #saslInit(
    params: ConnParams,
    mechanisms: string[],
    tlsSocket: tls.TLSSocket | null,
    password: string,
  ): ScramClient {
    const fatal = (message: string) => new AttemptError(message, false);
    if (params.channelBinding === "require" && tlsSocket === null) {
      throw fatal("channel binding required, but SSL not in use");
    }
    let plus = false;
    if (mechanisms.includes("SCRAM-SHA-256-PLUS")) {
      if (tlsSocket === null) {
        throw fatal("server offered SCRAM-SHA-256-PLUS authentication over a non-SSL connection");
      }
      plus = params.channelBinding !== "disable";
    }
    if (!plus && !mechanisms.includes("SCRAM-SHA-256")) {
      throw fatal("none of the server's SASL authentication mechanisms are supported");
    }
    if (params.channelBinding === "require" && !plus) {
      throw fatal(
        "channel binding is required, but server did not offer an authentication method that supports channel binding",
      );
    }
    let flag: ChannelBindingFlag = "n";
    if (plus) {
      const raw = tlsSocket!.getPeerCertificate()?.raw;
      if (!raw) throw fatal("could not get server certificate for channel binding");
      flag = { endPoint: tlsServerEndPoint(new Uint8Array(raw)) };
    } else if (tlsSocket !== null && params.channelBinding !== "disable") {
      flag = "y";
    }
    return new ScramClient(password, flag);
  }

  /**
   * Runs one query: simple protocol without params (the last statement's
   * result counts), extended protocol with text params otherwise. Rejects
   * with ConnectionLostError if the connection ends first.
   */
  query(sql: Uint8Array, params: readonly (Uint8Array | null)[] | null): Promise<QueryOutcome> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionLostError(this.#fatal ?? "server closed the connection unexpectedly"),
      );
    }
    if (this.#op !== null) throw new Error("PgSession.query: another query is outstanding");
    const nul = sql.indexOf(0);
    const text = nul >= 0 ? sql.subarray(0, nul) : sql;
    return new Promise<QueryOutcome>((resolve, reject) => {
      let last: QueryOutcome = { kind: "none" };
      let columns: Uint8Array[] = [];
      let rows: (Uint8Array | null)[][] = [];
      let inCopyOut = false;
      this.#op = {
        fail: reject,
        handle: (msg) => {
          switch (msg.type) {
            case "T":
              columns = parseRowDescription(msg.body);
              rows = [];
              return;
            case "D":
              rows.push(parseDataRow(msg.body));
              return;
            case "C":
            case "s": {
              const command = msg.type === "C" ? new BodyReader(msg.body).cstr() : "";
              last = inCopyOut
                ? { kind: "result", result: { columns: [], rows: [], command } }
                : { kind: "result", result: { columns, rows, command } };
              columns = [];
              rows = [];
              inCopyOut = false;
              return;
            }
            case "I":
              last = { kind: "result", result: { columns: [], rows: [], command: "" } };
              return;
            case "E":
              last = {
                kind: "error",
                message: formatServerError(parseErrorFields(msg.body), decoder.decode(text)),
              };
              return;
            case "G":
              this.#write(copyFail("COPY FROM STDIN is not supported by the reaper"));
              return;
            case "H":
              inCopyOut = true;
              return;
            case "Z":
              this.#op = null;
              resolve(last);
              return;
            default:
              return; // ParseComplete, BindComplete, NoData, CopyData, CopyDone
          }
        },
      };
      this.#write(params === null ? queryMessage(text) : extendedQuery(text, params));
    });
  }

  /** Asks the server to cancel the running query (best effort, new connection). */
  cancel(): void {
    if (this.#closed || this.pid === 0) return;
    connectSocket(this.target).then((s) => {
      s.on("error", () => {});
      s.end(cancelRequest(this.pid, this.secret));
    }, () => {});
  }

  /** Sends Terminate and closes; an outstanding query fails as lost. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#socket.end(terminateMessage());
    } catch {
      // already broken
    }
    this.#terminate("connection closed by the client");
  }
}

function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** libpq's auth_method_description. */
function authDescription(code: number): string {
  switch (code) {
    case AUTH_REQ.password:
      return "server requested a cleartext password";
    case AUTH_REQ.md5:
      return "server requested a hashed password";
    case AUTH_REQ.gss:
    case AUTH_REQ.gssCont:
      return "server requested GSSAPI authentication";
    case AUTH_REQ.sspi:
      return "server requested SSPI authentication";
    case 10:
    case 11:
    case 12:
      return "server requested SASL authentication";
  }
  return "server requested an unknown authentication type";
}

/** The cancel path: a plain connection, no options. */
function connectSocket(target: PgTarget, params: ConnParams | null = null): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const before = target.kind === "unix" && params?.requirePeer ? socketFds() : null;
    const socket = target.kind === "unix"
      ? net.createConnection({ path: target.path })
      : net.createConnection({ host: target.hostname, port: target.port });
    const onError = (e: unknown) => {
      socket.destroy();
      reject(socketAttemptError(e));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.removeListener("error", onError);
      try {
        if (params !== null) configureSocket(socket, target, params, before);
      } catch (e) {
        socket.destroy();
        reject(e);
        return;
      }
      resolve(socket);
    });
  });
}

/** requirepeer on Unix sockets; keepalives and TCP_USER_TIMEOUT on TCP. */
function configureSocket(
  socket: net.Socket,
  target: PgTarget,
  params: ConnParams,
  before: Map<number, string> | null,
): void {
  if (target.kind === "unix") {
    if (before === null || params.requirePeer === null) return;
    const uids = newPeerUids(before, target.path);
    if (uids.length === 0) {
      throw new AttemptError("could not get peer credentials: socket not found", false);
    }
    for (const uid of uids) {
      let name: string | null = null;
      try {
        name = passwdNameForUid(Deno.readTextFileSync("/etc/passwd"), uid);
      } catch {
        // no passwd file
      }
      if (name === null) {
        throw new AttemptError(`could not look up local user ID ${uid}`, false);
      }
      if (name !== params.requirePeer) {
        throw new AttemptError(
          `requirepeer specifies "${params.requirePeer}", but actual peer user name is "${name}"`,
          false,
        );
      }
    }
    return;
  }
  socket.setNoDelay?.(true);
  const k = params.keepalives;
  const fd = findTcpFd(socket.localPort ?? 0, socket.remotePort ?? 0);
  if (fd === null) {
    const defaults = k.enabled && k.idle === null && k.interval === null && k.count === null &&
      params.tcpUserTimeout === null;
    if (defaults) {
      socket.setKeepAlive?.(true);
      return;
    }
    throw new AttemptError("could not set socket options: the socket's fd was not found", false);
  }
  applyTcpOptions(fd, {
    keepalives: k.enabled,
    idle: k.idle,
    interval: k.interval,
    count: k.count,
    userTimeoutMs: params.tcpUserTimeout,
  });
}

/** SSLRequest, then a TLS handshake if the server agrees (libpq sslmode rules). */
function startTls(socket: net.Socket, hostname: string, params: ConnParams): Promise<Socket> {
  let files: TlsFiles;
  try {
    files = loadTlsFiles(params);
  } catch (e) {
    return Promise.reject(new AttemptError(e instanceof Error ? e.message : String(e), false));
  }
  return new Promise((resolve, reject) => {
    const onError = (e: unknown) => reject(socketAttemptError(e));
    socket.once("error", onError);
    socket.once("data", (chunk: Uint8Array) => {
      socket.removeListener("error", onError);
      if (chunk.length !== 1) {
        reject(new AttemptError("received invalid response to SSL negotiation", false));
      } else if (chunk[0] === 0x4e /* N */) {
        if (params.sslmode === "prefer" || params.sslmode === "allow") resolve(socket);
        else {
          reject(new AttemptError("server does not support SSL, but SSL was required", false));
        }
      } else if (chunk[0] === 0x53 /* S */) {
        const secure = tls.connect({
          socket,
          servername: params.tls.sni && !net.isIP(hostname) ? hostname : undefined,
          rejectUnauthorized: files.ca !== undefined,
          ca: files.ca,
          cert: files.cert,
          key: files.key,
          passphrase: files.passphrase,
          minVersion: params.tls.minVersion,
          maxVersion: params.tls.maxVersion ?? undefined,
          // The host name is checked below, with libpq's messages.
          checkServerIdentity: () => undefined,
        });
        secure.once("secureConnect", () => {
          secure.removeAllListeners("error");
          if (files.crls !== undefined) {
            const revoked = checkRevocation(peerChain(secure), files.crls);
            if (revoked !== null) {
              secure.destroy();
              reject(new AttemptError(`SSL error: certificate verify failed (${revoked})`, false));
              return;
            }
          }
          if (params.sslmode === "verify-full") {
            const mismatch = verifyHostName(secure.getPeerCertificate(), hostname);
            if (mismatch !== null) {
              secure.destroy();
              reject(new AttemptError(mismatch, false));
              return;
            }
          }
          resolve(secure);
        });
        secure.once("error", (e: unknown) => reject(tlsAttemptError(e)));
      } else {
        reject(new AttemptError("received invalid response to SSL negotiation", false));
      }
    });
    socket.write(sslRequest());
  });
}

/** The server's verified chain, leaf first, as DER. */
function peerChain(socket: tls.TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  const seen = new Set<unknown>();
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** libpq: "SSL error: certificate verify failed"; resets stay healable. */
function tlsAttemptError(error: unknown): AttemptError {
  const e = error as { code?: string; message?: string };
  if (e.code !== undefined && HEALABLE_ERRNOS.has(e.code)) return socketAttemptError(error);
  const verify = e.code !== undefined &&
    /CERT|VERIFY|SELF_SIGNED|ISSUER|SIGNATURE|CRL/.test(e.code) && !/^ERR_SSL_TLSV1/.test(e.code);
  return new AttemptError(
    verify
      ? `SSL error: certificate verify failed (${e.message ?? e.code})`
      : `SSL error: ${e.message ?? String(error)}`,
    false,
  );
}
