// One client connection: datagrams in, replies out in request order. A
// malformed datagram closes only this connection.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { type Credentials, peerCredentials } from "../ffi/socket.ts";
import { MessageReceiver, MessageSender, MSG_CTRUNC, MSG_TRUNC } from "../ffi/socket_message.ts";
import { errorMessage, logError, logWarning } from "../shared/log.ts";
import { decodeRequest, ProtocolError } from "../shared/protocol.ts";
import { FdCloser } from "./fd_closer.ts";
import { OrderedQueue } from "./ordered_queue.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";
import { SysError } from "../ffi/sys_error.ts";
import { errorReply, type Reply, type RequestHandler } from "./request_handler.ts";

/** Requests are small; uid_map and gid_map are below a page each. */
export const MAX_DATAGRAM = 64 * 1024;
/** The most fds one datagram can carry (include/net/scm.h). */
export const SCM_MAX_FD = 253;
/** Datagrams handled per readiness event, so that one client cannot starve others. */
const BATCH = 64;
const PEER_GONE = ["EPIPE", "ECONNRESET"];

// One process-wide receive buffer: handlers run one at a time on the JS thread.
const buffer = new Uint8Array(MAX_DATAGRAM);
// Room for every fd one datagram can carry (SCM_MAX_FD): fds that do not fit
// would be dropped by the kernel inside recvmsg, i.e. closed on this thread
// (see fd_closer.ts).
const receiver = new MessageReceiver(SCM_MAX_FD);
const closer = new FdCloser();
const sender = new MessageSender(4);
// A client sending garbage in a loop must not flood the journal.
const malformedLog = new RateLimitedLog("warning", 1000, 20);

export class Connection {
  readonly #queue = new OrderedQueue((e) => logError(`reply failed: ${errorMessage(e)}`));
  #open = true;
  /** Not read while fds it sent are being closed. */
  #paused = false;
  #peer: Credentials | undefined;
  /** SO_PEERCRED: who connected. */
  readonly connector: Credentials | undefined;
  readonly #idleTimeoutMs: number | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly fd: number,
    readonly loop: EventLoop,
    readonly handler: RequestHandler,
    readonly onClose: (connection: Connection) => void,
    options: {
      /** SO_PEERCRED if the caller read it already. */
      connector?: Credentials;
      /** Closes the connection after this long without a datagram. */
      idleTimeoutMs?: number;
    } = {},
  ) {
    if (options.connector !== undefined) {
      this.connector = options.connector;
    } else {
      try {
        this.connector = peerCredentials(fd);
      } catch {
        this.connector = undefined; // the policy refuses a peer without credentials
      }
    }
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#armIdleTimer();
    loop.add(fd, EPOLLIN, () => this.#readable());
  }

  #armIdleTimer(): void {
    if (this.#idleTimeoutMs === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.close(), this.#idleTimeoutMs);
  }

  get open(): boolean {
    return this.#open;
  }

  #readable(): void {
    for (let i = 0; i < BATCH && this.#open && !this.#paused; i++) {
      let message;
      try {
        message = receiver.receive(this.fd, buffer);
      } catch (e) {
        // A client that reset its end is gone: not worth a log line.
        if (!(e instanceof SysError && PEER_GONE.includes(e.code))) throw e;
        this.close();
        return;
      }
      if (message === null) return;
      // Clients have no business sending fds; do not leak them, and do not
      // block on closing them: off this thread, and this connection is not
      // read again until they are closed (so it cannot pile them up).
      if (message.fds.length > 0) this.#closeSent(message.fds);
      // Credentials of this datagram only: a missing one must not inherit a previous one.
      this.#peer = message.credentials;
      if (message.length === 0) {
        this.close();
        return;
      }
      this.#armIdleTimer();
      if (message.flags & MSG_TRUNC) {
        this.#reject(`datagram larger than ${MAX_DATAGRAM} bytes`);
        return;
      }
      if (message.flags & MSG_CTRUNC) {
        // Ancillary data cut short (too many fds sent, or the daemon is out of
        // fds): the credentials may be missing. Answer, never guess.
        this.#queue.add(
          null,
          () => this.#send(errorReply("Ancillary data truncated (fds sent, or daemon out of fds)")),
          () => {},
        );
        continue;
      }
      let request;
      try {
        request = decodeRequest(buffer.subarray(0, message.length));
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.#reject(e.message);
        return;
      }
      if (request === null) continue; // only NOP: no response
      this.handler.handle(
        request,
        { message: this.#peer, connector: this.connector },
        this.#queue,
        (reply) => this.#send(reply),
      );
    }
  }

  #closeSent(fds: number[]): void {
    this.#paused = true;
    this.loop.remove(this.fd);
    closer.closeAll(fds).then(() => {
      this.#paused = false;
      if (!this.#open) return;
      // Level-triggered: what is queued is read on the loop's next turn, where
      // a failing handler is logged (not here, outside the loop: an unhandled
      // rejection would end the daemon).
      try {
        this.loop.add(this.fd, EPOLLIN, () => this.#readable());
      } catch (e) {
        logWarning(`cannot watch connection fd ${this.fd} again: ${errorMessage(e)}; closing it`);
        this.close();
      }
    });
  }

  #reject(reason: string): void {
    const who = this.#peer ? `pid ${this.#peer.pid} uid ${this.#peer.uid}` : `fd ${this.fd}`;
    malformedLog.log(
      `malformed request from ${who}: ${reason}; closing the connection`,
      this.#peer ? { SPAWN_PEER_PID: this.#peer.pid, SPAWN_PEER_UID: this.#peer.uid } : undefined,
    );
    this.close();
  }

  #send(reply: Reply): void {
    try {
      if (this.#open) sender.send(this.fd, reply.datagram, reply.fds);
      // null (socket buffer full): a client that does not read loses its reply.
    } catch (e) {
      // The peer is gone (EPIPE, ECONNRESET): nothing left to answer, nothing to log.
      if (!(e instanceof SysError && PEER_GONE.includes(e.code))) {
        logWarning(`sending a reply failed: ${errorMessage(e)}; closing the connection`);
      }
      this.close();
    } finally {
      for (const fd of reply.closeAfterSend) closeQuietly(fd);
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    clearTimeout(this.#idleTimer);
    this.loop.remove(this.fd);
    closeQuietly(this.fd);
    this.#queue.close();
    this.onClose(this);
  }
}
