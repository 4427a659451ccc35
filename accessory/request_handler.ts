// Turns a decoded request into a reply: the namespaces of its NAME, in the
// mandated fd order, plus a lease. Replies are assembled synchronously right
// before they are sent, so the fds in them are the ones the daemon holds at
// that moment.
import { schedYield } from "../ffi/process.ts";
import type { Credentials } from "../ffi/socket.ts";
import { errorMessage, logError } from "../shared/log.ts";
import {
  encodeErrorResponse,
  encodeHandlesResponse,
  namespaceFlags,
  type Request,
} from "../shared/protocol.ts";
import {
  type AccessList,
  checkPeer,
  checkRequestLimits,
  DEFAULT_LIMITS,
  type Limits,
} from "./limits.ts";
import { NamespaceError } from "./namespace_error.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";
import type { NamespaceRegistry } from "./namespace_registry.ts";
import type { NameEntry } from "./name_entry.ts";
import type { OrderedQueue, Outcome } from "./ordered_queue.ts";

export interface Reply {
  datagram: Uint8Array<ArrayBuffer>;
  /** Passed with SCM_RIGHTS; the daemon keeps its copies. */
  fds: number[];
  /** Closed by the sender once the reply is sent or dropped (lease write ends). */
  closeAfterSend: number[];
}

/** Who sent a datagram: its SCM_CREDENTIALS, and SO_PEERCRED of the connection. */
export interface Peer {
  message: Credentials | undefined;
  connector: Credentials | undefined;
}

/** Access control: return null to allow, or the message of the ERROR response. */
export type Policy = (request: Request, peer: Peer) => string | null;

export const allowEveryone: Policy = () => null;

/** Only uid 0 and the listed uids/gids (see limits.ts). */
export function accessListPolicy(access: AccessList): Policy {
  return (_request, peer) => checkPeer(access, peer.message, peer.connector);
}

export function errorReply(message: string): Reply {
  return { datagram: encodeErrorResponse(message), fds: [], closeAfterSend: [] };
}

export class RequestHandler {
  // A success datagram depends only on which kinds were requested.
  readonly #successDatagrams = new Map<number, Uint8Array<ArrayBuffer>>();

  readonly #refusals = new RateLimitedLog("warning");
  /** Requests handled since start, and of them refused (access or limits): status, control. */
  requests = 0;
  refused = 0;

  constructor(
    readonly registry: NamespaceRegistry,
    readonly policy: Policy = allowEveryone,
    readonly limits: Limits = { ...DEFAULT_LIMITS },
  ) {}

  /** Queues the request's reply on `queue`; `send` gets it in order. */
  handle(
    request: Request,
    peer: Peer,
    queue: OrderedQueue,
    send: (reply: Reply) => void,
  ): void {
    this.requests++;
    const denied = this.policy(request, peer);
    if (denied !== null) {
      this.refused++;
      const who = peer.message ?? peer.connector;
      this.#refusals.log(
        `refused ${JSON.stringify(request.name)} to pid ${who?.pid ?? "?"} uid ${who?.uid ?? "?"}` +
          ` gid ${who?.gid ?? "?"}: ${denied}`,
        {
          SPAWN_NAME: request.name,
          ...(who ? { SPAWN_PEER_PID: who.pid, SPAWN_PEER_UID: who.uid } : {}),
        },
      );
      queue.add(null, () => send(errorReply(denied)), () => {});
      return;
    }
    const uid = peer.message?.uid ?? peer.connector?.uid ?? -1;
    const refused = checkRequestLimits(request, this.limits) ??
      this.#checkCapacity(request) ?? this.#checkUidQuota(request, uid);
    if (refused !== null) {
      this.refused++;
      queue.add(null, () => send(errorReply(refused)), () => {});
      return;
    }
    const entry = this.registry.acquire(request.name);
    // What the name lacks is made off the event loop (prepared inits, user
    // namespace helpers): the reply waits in this connection's queue, while
    // other connections and requests for existing names are served.
    let work: Promise<unknown> | null;
    try {
      work = entry.prepare(request, uid);
    } catch (e) {
      work = Promise.reject(e);
    }
    queue.add(
      work,
      (outcome: Outcome<unknown>) => {
        try {
          send(
            outcome.ok ? this.#assemble(entry, request) : this.#failure(outcome.error, entry.name),
          );
        } finally {
          this.registry.release(entry);
          this.#afterReply(entry);
        }
      },
      () => {
        this.registry.release(entry);
        this.#afterReply(entry);
      },
    );
  }

  /** After the reply, not before: the log line, and replacing what it took from the pool. */
  #afterReply(entry: NameEntry): void {
    if (!entry.hasAfterReplyWork) return;
    // The client the reply woke usually waits for this CPU (a socket's wakeup
    // assumes the sender sleeps next): let it run first.
    schedYield();
    if (entry.afterReply()) this.registry.factory.refill();
  }

  /** Limits that depend on what the daemon holds: live names, user namespaces per name. */
  #checkCapacity(request: Request): string | null {
    const entry = this.registry.get(request.name);
    if (entry === undefined) {
      if (this.registry.size >= this.limits.maxNames) {
        return `Too many names: ${this.registry.size} live (limit ${this.limits.maxNames})`;
      }
      return null;
    }
    if (
      request.user && !entry.hasUserNamespace(request.user) &&
      entry.userNamespaces >= this.limits.maxUserNamespaces
    ) {
      return `Too many user namespaces for ${JSON.stringify(request.name)}: ` +
        `${entry.userNamespaces} (limit ${this.limits.maxUserNamespaces})`;
    }
    return null;
  }

  /** What one uid other than 0 may hold over all names (issue 14). */
  #checkUidQuota(request: Request, uid: number): string | null {
    if (!request.user || uid === 0) return null;
    if (this.registry.get(request.name)?.hasUserNamespace(request.user)) return null;
    const held = this.registry.userNamespacesByUid.get(uid);
    if (held < this.limits.maxUserNamespacesPerUid) return null;
    return `Too many user namespaces for uid ${uid}: ${held} (limit ${this.limits.maxUserNamespacesPerUid})`;
  }

  #assemble(entry: NameEntry, request: Request): Reply {
    const fds: number[] = [];
    try {
      if (request.ipc) fds.push(entry.ipcFd());
      if (request.pid) fds.push(entry.pidFd());
      if (request.user) fds.push(entry.userFd(request.user));
    } catch (e) {
      return this.#failure(e, entry.name);
    }
    const closeAfterSend: number[] = [];
    if (request.lease) {
      try {
        const writeEnd = this.registry.lease(entry);
        fds.push(writeEnd);
        closeAfterSend.push(writeEnd);
      } catch (e) {
        return errorReply(`Failed to create lease pipe: ${errorMessage(e)}`);
      }
    }
    return { datagram: this.#success(request), fds, closeAfterSend };
  }

  #success(request: Request): Uint8Array<ArrayBuffer> {
    const key = (request.ipc ? 1 : 0) | (request.pid ? 2 : 0) | (request.user ? 4 : 0) |
      (request.lease ? 8 : 0);
    let datagram = this.#successDatagrams.get(key);
    if (datagram === undefined) {
      datagram = encodeHandlesResponse(namespaceFlags(request), request.lease);
      this.#successDatagrams.set(key, datagram);
    }
    return datagram;
  }

  #failure(error: unknown, name: string): Reply {
    if (error instanceof NamespaceError) {
      logError(error.message, { SPAWN_NAME: name });
      return errorReply(error.message);
    }
    logError(`request failed: ${errorMessage(error)}`, { SPAWN_NAME: name });
    return errorReply(`Internal error: ${errorMessage(error)}`);
  }
}
