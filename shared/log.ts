// One line per event on stderr. Under journald (JOURNAL_STREAM set) each line
// carries a sd-daemon "<N>" priority prefix, so `journalctl -p` filters work.
// A daemon whose stderr is the journal may install a native sink
// (journal_socket.ts): entries then carry structured fields too (SPAWN_NAME,
// SPAWN_CGROUP, ...), given as the optional last argument of every log call.
import { encodeJournalEntry, type JournalFields } from "./journal.ts";

const encoder = new TextEncoder();
const PRIORITY = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Priority = keyof typeof PRIORITY;

/** Structured fields of one entry: journald field names (A-Z, 0-9, _), values. */
export type LogFields = JournalFields;

const useJournalPrefix = () => Deno.env.get("JOURNAL_STREAM") !== undefined;

let identifier = "cm4all-spawn";
/** Sends one native journal datagram; false means "write the stderr line instead". */
let journalSink: ((datagram: Uint8Array<ArrayBuffer>) => boolean) | null = null;

/** SYSLOG_IDENTIFIER of native entries: the program's name. */
export function setLogIdentifier(name: string): void {
  identifier = name;
}

/** Installs (or with null removes) the native journal sink. */
export function setJournalSink(sink: ((datagram: Uint8Array<ArrayBuffer>) => boolean) | null) {
  journalSink = sink;
}

/** Writes all of text to a Deno file synchronously (partial writes retried). */
export function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

/** Prefixes every line of message; newlines inside become separate lines. */
export function formatLogLine(priority: Priority, message: string, journal: boolean): string {
  const prefix = journal ? `<${PRIORITY[priority]}>` : "";
  return message.split("\n").map((line) => prefix + line).join("\n") + "\n";
}

/** The native journal entry of a log call: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, fields. */
export function journalEntry(
  priority: Priority,
  message: string,
  fields: LogFields = {},
  syslogIdentifier = identifier,
): Uint8Array<ArrayBuffer> {
  return encodeJournalEntry({
    MESSAGE: message,
    PRIORITY: PRIORITY[priority],
    SYSLOG_IDENTIFIER: syslogIdentifier,
    ...fields,
  });
}

export function log(priority: Priority, message: string, fields?: LogFields): void {
  if (journalSink !== null) {
    let sent = false;
    try {
      sent = journalSink(journalEntry(priority, message, fields));
    } catch {
      // a bad field name must not lose the line
    }
    if (sent) return;
  }
  try {
    writeAllSync(Deno.stderr, formatLogLine(priority, message, useJournalPrefix()));
  } catch {
    // stderr is gone (a closed pipe: EPIPE) or full: the line is lost, but a
    // log line must never take the daemon down, least of all while it shuts
    // down and ends what it made.
  }
}

export const logError = (message: string, fields?: LogFields) => log("error", message, fields);
export const logWarning = (message: string, fields?: LogFields) => log("warning", message, fields);
export const logNotice = (message: string, fields?: LogFields) => log("notice", message, fields);
export const logInfo = (message: string, fields?: LogFields) => log("info", message, fields);

/** The message of any thrown value, for log lines. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
