// One physical connection to a PostgreSQL server: connect (Unix socket or TCP,
// optional TLS), authenticate, run one query at a time, deliver
// notifications, cancel. No queueing or reconnecting here (connection.ts).
import * as net from "node:net";
import * as tls from "node:tls";
import { ScramClient } from "./auth.ts";
import { md5Password } from "./auth.ts";
import { type ConnParams, describeTarget, type PgTarget } from "./conninfo.ts";
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

/** Connecting or authenticating failed; the message names the target. */
export class ConnectError extends Error {
  override name = "ConnectError";
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

  /** Tries each target in turn; throws ConnectError naming the last failure(s). */
  static async open(params: ConnParams, events: SessionEvents = {}): Promise<PgSession> {
    const failures: string[] = [];
    for (const target of params.targets) {
      try {
        return await PgSession.#openTarget(params, target, events);
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }
    throw new ConnectError(failures.join("\n"));
  }

  static async #openTarget(
    params: ConnParams,
    target: PgTarget,
    events: SessionEvents,
  ): Promise<PgSession> {
    const where = `connection to ${describeTarget(target)} failed`;
    let socket: Socket | null = null;
    let session: PgSession | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (params.connectTimeout !== null) {
        timer = setTimeout(
          () => reject(new Error("timeout expired")),
          params.connectTimeout * 1000,
        );
      }
    });
    try {
      socket = await Promise.race([connectSocket(target), timeout]);
      if (target.kind === "tcp" && params.sslmode !== "disable" && params.sslmode !== "allow") {
        socket = await Promise.race([
          startTls(socket, target.serverName ?? target.hostname, params),
          timeout,
        ]);
      }
      session = new PgSession(target, socket, events);
      session.#attach();
      await Promise.race([session.#startup(params), timeout]);
      return session;
    } catch (e) {
      if (session !== null) session.#events = {};
      socket?.destroy();
      throw new ConnectError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      clearTimeout(timer);
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

  #startup(params: ConnParams): Promise<void> {
    const startup: Record<string, string> = { user: params.user, database: params.dbname };
    if (params.applicationName !== null) startup.application_name = params.applicationName;
    if (params.options !== null) startup.options = params.options;
    if (params.clientEncoding !== null) startup.client_encoding = params.clientEncoding;
    return new Promise<void>((resolve, reject) => {
      let scram: ScramClient | null = null;
      const needPassword = () => {
        if (params.password === null) throw new Error("fe_sendauth: no password supplied");
        return params.password;
      };
      this.#op = {
        fail: (e) => reject(new Error(e.message)),
        handle: (msg) => {
          try {
            switch (msg.type) {
              case "R": {
                const r = new BodyReader(msg.body);
                const code = r.i32();
                if (code === 0) return; // AuthenticationOk
                if (code === 3) {
                  this.#write(passwordMessage(new TextEncoder().encode(needPassword())));
                } else if (code === 5) {
                  this.#write(
                    passwordMessage(md5Password(params.user, needPassword(), r.bytes(4))),
                  );
                } else if (code === 10) {
                  const mechanisms = decoder.decode(r.rest()).split("\0");
                  if (!mechanisms.includes("SCRAM-SHA-256")) {
                    throw new Error(`none of the server's SASL mechanisms are supported`);
                  }
                  scram = new ScramClient(needPassword());
                  this.#write(saslInitialResponse("SCRAM-SHA-256", scram.clientFirst()));
                } else if (code === 11 && scram !== null) {
                  this.#write(saslResponse(scram.clientFinal(r.rest())));
                } else if (code === 12 && scram !== null) {
                  scram.verifyServerFinal(r.rest());
                } else {
                  throw new Error(`authentication method ${code} not supported`);
                }
                return;
              }
              case "K": {
                const r = new BodyReader(msg.body);
                this.pid = r.i32();
                this.secret = r.i32();
                return;
              }
              case "E":
                this.#fatal = null;
                throw new Error(formatServerError(parseErrorFields(msg.body), null).trimEnd());
              case "Z":
                this.#op = null;
                resolve();
                return;
              case "v":
                return; // NegotiateProtocolVersion: minor version or options ignored
              default:
                throw new Error(`unexpected message type "${msg.type}" during startup`);
            }
          } catch (e) {
            this.#op = null;
            reject(e);
            this.#socket.destroy();
          }
        },
      };
      this.#write(startupMessage(startup));
    });
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

function connectSocket(target: PgTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.kind === "unix"
      ? net.createConnection({ path: target.path })
      : net.createConnection({ host: target.hostname, port: target.port });
    const onError = (e: unknown) => {
      socket.destroy();
      reject(new Error(socketErrorText(e)));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.removeListener("error", onError);
      socket.setNoDelay?.(true);
      // libpq enables TCP keepalives by default.
      if (target.kind === "tcp") socket.setKeepAlive?.(true, 60_000);
      resolve(socket);
    });
  });
}

/** SSLRequest, then a TLS handshake if the server agrees (libpq sslmode rules). */
function startTls(socket: net.Socket, hostname: string, params: ConnParams): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const onError = (e: unknown) => reject(new Error(socketErrorText(e)));
    socket.once("error", onError);
    socket.once("data", (chunk: Uint8Array) => {
      socket.removeListener("error", onError);
      if (chunk.length !== 1) {
        reject(new Error("received invalid response to SSL negotiation"));
      } else if (chunk[0] === 0x4e /* N */) {
        if (params.sslmode === "prefer") resolve(socket);
        else reject(new Error("server does not support SSL, but SSL was required"));
      } else if (chunk[0] === 0x53 /* S */) {
        const verify = params.sslmode === "verify-ca" || params.sslmode === "verify-full";
        const secure = tls.connect({
          socket,
          servername: net.isIP(hostname) ? undefined : hostname,
          rejectUnauthorized: verify,
          ca: verify && params.sslRootCert !== null && params.sslRootCert !== "system"
            ? Deno.readTextFileSync(params.sslRootCert)
            : undefined,
          checkServerIdentity: params.sslmode === "verify-full"
            ? tls.checkServerIdentity
            : () => undefined,
        });
        secure.once("secureConnect", () => {
          secure.removeAllListeners("error");
          resolve(secure);
        });
        secure.once("error", (e: unknown) => reject(new Error(`SSL error: ${socketErrorText(e)}`)));
      } else {
        reject(new Error("received invalid response to SSL negotiation"));
      }
    });
    socket.write(sslRequest());
  });
}
