// Sends log entries to journald's native socket (see journal.ts). Separate
// from log.ts because it needs FFI, which not every program is granted: the
// daemons call useJournalIfConnected() at start-up.
import { connect, setTimeoutOption, SO_SNDTIMEO, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { MSG_NOSIGNAL, sendMessage } from "../ffi/socket_message.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { JOURNAL_SOCKET, JOURNAL_SOCKET_ENV, stderrIsJournal } from "./journal.ts";
import { setJournalSink } from "./log.ts";

/** How long one entry may wait for room in journald's queue before it goes to stderr. */
const SEND_TIMEOUT_MS = 1000;

/**
 * A connected datagram socket to journald. Blocking like sd_journal_send()
 * (a writer briefly ahead of journald waits, as it would writing stderr),
 * but at most SEND_TIMEOUT_MS. send() returns false when the entry could not
 * be delivered (no journald, queue full that long, entry too large): the
 * caller then writes to stderr instead.
 */
export class JournalSocket {
  #fd = -1;

  constructor(readonly path: string) {}

  send(datagram: Uint8Array<ArrayBuffer>): boolean {
    // One reconnect: journald may have restarted since the last entry.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (this.#fd < 0) {
          const fd = unixSocket(SOCK_DGRAM, false);
          try {
            setTimeoutOption(fd, SO_SNDTIMEO, SEND_TIMEOUT_MS);
            connect(fd, this.path);
          } catch (e) {
            closeQuietly(fd);
            throw e;
          }
          this.#fd = fd;
        }
        return sendMessage(this.#fd, datagram, [], MSG_NOSIGNAL) !== null;
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
