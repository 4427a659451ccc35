// Sends log entries to journald's native socket (see journal.ts). Separate
// from log.ts because it needs FFI, which not every program is granted: the
// daemons call useJournalIfConnected() at start-up.
import { connect, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { MSG_DONTWAIT, MSG_NOSIGNAL, sendMessage } from "../ffi/socket_message.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { JOURNAL_SOCKET, JOURNAL_SOCKET_ENV, stderrIsJournal } from "./journal.ts";
import { setJournalSink } from "./log.ts";

/**
 * A connected, non-blocking datagram socket to journald. send() returns
 * false when the entry could not be delivered (no journald, socket buffer
 * full, entry too large): the caller then writes to stderr instead.
 */
export class JournalSocket {
  #fd = -1;

  constructor(readonly path: string) {}

  send(datagram: Uint8Array<ArrayBuffer>): boolean {
    // One reconnect: journald may have restarted since the last entry.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (this.#fd < 0) {
          const fd = unixSocket(SOCK_DGRAM);
          try {
            connect(fd, this.path);
          } catch (e) {
            closeQuietly(fd);
            throw e;
          }
          this.#fd = fd;
        }
        return sendMessage(this.#fd, datagram, [], MSG_DONTWAIT | MSG_NOSIGNAL) !== null;
      } catch {
        this.close();
      }
    }
    return false;
  }

  close(): void {
    closeQuietly(this.#fd);
    this.#fd = -1;
  }
}

/**
 * When stderr is the journal (JOURNAL_STREAM matches fd 2), log entries go
 * through the native socket from now on, with their fields; an entry that
 * cannot be sent falls back to its stderr line. Returns whether it did.
 */
export function useJournalIfConnected(): boolean {
  if (!stderrIsJournal(Deno.env.get("JOURNAL_STREAM"))) return false;
  const socket = new JournalSocket(Deno.env.get(JOURNAL_SOCKET_ENV) || JOURNAL_SOCKET);
  setJournalSink((datagram) => socket.send(datagram));
  return true;
}
