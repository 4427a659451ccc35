// One client connection: datagrams in, replies out in request order. A
// malformed datagram closes only this connection.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { type Credentials, peerCredentials } from "../ffi/socket.ts";
import { MessageReceiver, MessageSender, MSG_CTRUNC, MSG_TRUNC } from "../ffi/socket_message.ts";
import { errorMessage, logError, logWarning } from "../shared/log.ts";
import { decodeRequest, ProtocolError } from "../shared/protocol.ts";
import { OrderedQueue } from "./ordered_queue.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";
import { SysError } from "../ffi/sys_error.ts";
import { errorReply, type Reply, type RequestHandler } from "./request_handler.ts";

/** Requests are small; uid_map and gid_map are below a page each. */
export const MAX_DATAGRAM = 64 * 1024;
/** Datagrams handled per readiness event, so that one client cannot starve others. */
const BATCH = 64;
const PEER_GONE = ["EPIPE", "ECONNRESET"];

// One process-wide receive buffer: handlers run one at a time on the JS thread.
const buffer = new Uint8Array(MAX_DATAGRAM);
const receiver = new MessageReceiver(4);
const sender = new MessageSender(4);
// A client sending garbage in a loop must not flood the journal.
const malformedLog = new RateLimitedLog("warning", 1000, 20);

export class Connection {
  readonly #queue = new OrderedQueue((e) => logError(`reply failed: ${errorMessage(e)}`));
  #open = true;
  #peer: Credentials | undefined;
  /** SO_PEERCRED: who connected. */
  readonly connector: Credentials | undefined;

  constructor(
    readonly fd: number,
    readonly loop: EventLoop,
    readonly handler: RequestHandler,
    readonly onClose: (connection: Connection) => void,
  ) {
    try {
      this.connector = peerCredentials(fd);
    } catch {
      this.connector = undefined; // the policy refuses a peer without credentials
    }
    loop.add(fd, EPOLLIN, () => this.#readable());
  }

  get open(): boolean {
    return this.#open;
  }

  #readable(): void {
    for (let i = 0; i < BATCH && this.#open; i++) {
      const message = receiver.receive(this.fd, buffer);
      if (message === null) return;
      // Clients have no business sending fds; do not leak them.
      for (const fd of message.fds) closeQuietly(fd);
      // Credentials of this datagram only: a missing one must not inherit a previous one.
      this.#peer = message.credentials;
      if (message.length === 0) {
        this.close();
        return;
      }
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
    this.loop.remove(this.fd);
    closeQuietly(this.fd);
    this.#queue.close();
    this.onClose(this);
  }
}
