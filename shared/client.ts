// Client library for the accessory daemon: ask for NAME's namespaces and get
// their fds. Synchronous (blocking socket with a receive timeout): callers are
// process spawners that need the fds before they can go on.
import { closeQuietly } from "../ffi/fd.ts";
import {
  connect,
  peerCredentials,
  setTimeoutOption,
  SO_RCVTIMEO,
  SO_SNDTIMEO,
  SOCK_SEQPACKET,
  unixSocket,
} from "../ffi/socket.ts";
import {
  MessageReceiver,
  MSG_CTRUNC,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  sendMessage,
} from "../ffi/socket_message.ts";
import {
  decodeResponse,
  encodeRequest,
  NamespaceFlag,
  namespaceFlags,
  ProtocolError,
  type Request,
} from "./protocol.ts";

export const DEFAULT_SOCKET = "@cm4all-spawn";
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface NamespaceOptions {
  ipc?: boolean;
  pid?: boolean;
  /** uid_map contents for a new user namespace (implies `user`). */
  uidMap?: string | Uint8Array;
  /** gid_map contents for a new user namespace (implies `user`). */
  gidMap?: string | Uint8Array;
  /** A user namespace; without maps its ids stay unmapped. */
  user?: boolean;
  /** A lease pipe: the name's namespaces live at least until it is closed. */
  lease?: boolean;
  /** The daemon's address, "@abstract" or a path (default @cm4all-spawn). */
  socket?: string;
  /** How long to wait for the response, in milliseconds. */
  timeout?: number;
  /**
   * The uids the daemon may run as (its SO_PEERCRED), default only 0: while
   * the address is unbound, anyone could listen on it and hand out
   * namespaces of their own. Others are for tests.
   */
  serverUids?: readonly number[];
}

/** Only root's daemon is trusted unless told otherwise. */
export const DEFAULT_SERVER_UIDS: readonly number[] = [0];

/** The daemon is not who it should be: nothing was sent to it. */
export class UntrustedServerError extends Error {
  override name = "UntrustedServerError";
}

/** The fds received, each present when it was requested. The caller owns them. */
export interface Namespaces {
  ipc?: number;
  pid?: number;
  user?: number;
  /** Write end of the lease pipe: close it to release the lease. */
  lease?: number;
}

/** The daemon answered with ERROR; the message is the server's. */
export class ServerError extends Error {
  override name = "ServerError";
}

const encoder = new TextEncoder();
const bytes = (v: string | Uint8Array | undefined) =>
  typeof v === "string" ? encoder.encode(v) : v ?? new Uint8Array(0);

/** The request that NamespaceOptions describe. */
export function namespaceRequest(name: string, options: NamespaceOptions): Request {
  const user = options.user || options.uidMap !== undefined || options.gidMap !== undefined;
  return {
    name,
    ipc: options.ipc ?? false,
    pid: options.pid ?? false,
    user: user ? { uidMap: bytes(options.uidMap), gidMap: bytes(options.gidMap) } : null,
    lease: options.lease ?? false,
  };
}

/** Closes every fd in a Namespaces result. */
export function closeNamespaces(namespaces: Namespaces): void {
  for (const fd of Object.values(namespaces)) closeQuietly(fd);
}

/**
 * Checks a response datagram and its fds against the request: magic, CRC,
 * ERROR, exactly the requested namespaces in IPC, PID, USER order, the lease
 * after them, and as many fds as flags. On any failure every received fd is
 * closed and ServerError or ProtocolError is thrown: no partial results.
 */
export function checkResponse(request: Request, datagram: Uint8Array, fds: number[]): Namespaces {
  try {
    const response = decodeResponse(datagram);
    if (response.kind === "error") throw new ServerError(response.message);
    const expected = namespaceFlags(request);
    const got = response.namespaces;
    if (got.length !== expected.length || got.some((flag, i) => flag !== expected[i])) {
      throw new ProtocolError(
        `response namespaces [${got.map(hex)}] do not match the request [${expected.map(hex)}]`,
      );
    }
    if (response.lease !== request.lease) {
      throw new ProtocolError(`response ${response.lease ? "has" : "lacks"} a lease pipe`);
    }
    const wanted = got.length + (response.lease ? 1 : 0);
    if (fds.length !== wanted) {
      throw new ProtocolError(`response carries ${fds.length} fds, expected ${wanted}`);
    }
    const result: Namespaces = {};
    got.forEach((flag, i) => {
      if (flag === NamespaceFlag.IPC) result.ipc = fds[i];
      else if (flag === NamespaceFlag.PID) result.pid = fds[i];
      else result.user = fds[i];
    });
    if (response.lease) result.lease = fds[got.length];
    return result;
  } catch (e) {
    for (const fd of fds) closeQuietly(fd);
    throw e;
  }
}

const hex = (n: number) => "0x" + n.toString(16);

/**
 * A connection to the daemon for any number of requests, answered in order.
 * Blocking; `timeout` bounds each wait for a response.
 */
export class AccessoryConnection {
  readonly fd: number;
  readonly #receiver = new MessageReceiver(8);
  readonly #buffer = new Uint8Array(0x10000 + 64);

  constructor(
    readonly address = DEFAULT_SOCKET,
    timeout = DEFAULT_TIMEOUT_MS,
    serverUids: readonly number[] = DEFAULT_SERVER_UIDS,
  ) {
    this.fd = unixSocket(SOCK_SEQPACKET, false);
    try {
      setTimeoutOption(this.fd, SO_RCVTIMEO, timeout);
      setTimeoutOption(this.fd, SO_SNDTIMEO, timeout);
      connect(this.fd, address);
      // Who listens (SO_PEERCRED: whoever called listen()), before any request.
      const server = peerCredentials(this.fd);
      if (!serverUids.includes(server.uid)) {
        throw new UntrustedServerError(
          `${address} is served by uid ${server.uid} (pid ${server.pid}), ` +
            `not by uid ${serverUids.join(" or ")}: refusing to use it`,
        );
      }
    } catch (e) {
      closeQuietly(this.fd);
      throw e;
    }
  }

  /** Sends one request datagram without waiting for the answer. */
  send(request: Request): void {
    const datagram = encodeRequest(request);
    const n = sendMessage(this.fd, datagram, [], MSG_NOSIGNAL);
    if (n === null) throw new Error(`sending to ${this.address} timed out`);
  }

  /** Waits for the next response and checks it against `request`. */
  receive(request: Request): Namespaces {
    const message = this.#receiver.receive(this.fd, this.#buffer, 0);
    if (message === null) throw new Error(`no response from ${this.address} (timed out)`);
    if (message.length === 0) {
      for (const fd of message.fds) closeQuietly(fd);
      throw new Error(`${this.address} closed the connection without a response`);
    }
    if (message.flags & (MSG_TRUNC | MSG_CTRUNC)) {
      for (const fd of message.fds) closeQuietly(fd);
      throw new ProtocolError("response truncated (too large or too many fds)");
    }
    return checkResponse(request, this.#buffer.subarray(0, message.length), message.fds);
  }

  request(request: Request): Namespaces {
    this.send(request);
    return this.receive(request);
  }

  close(): void {
    closeQuietly(this.fd);
  }
}

/**
 * Asks the daemon for NAME's namespaces (one connection, one request).
 * Throws ServerError on an ERROR response, ProtocolError on a malformed or
 * partial one, SysError when the daemon cannot be reached,
 * UntrustedServerError when it runs as a uid not in `serverUids`.
 */
export function makeNamespaces(name: string, options: NamespaceOptions = {}): Namespaces {
  const request = namespaceRequest(name, options);
  encodeRequest(request); // a bad NAME fails here, before any connection
  const connection = new AccessoryConnection(
    options.socket ?? DEFAULT_SOCKET,
    options.timeout,
    options.serverUids,
  );
  try {
    return connection.request(request);
  } finally {
    connection.close();
  }
}
