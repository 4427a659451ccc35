// journald's native protocol (systemd.journal-fields(7), "Native Journal
// Protocol"), without libsystemd: one datagram per entry to
// /run/systemd/journal/socket, each field "KEY=value\n", or for a value with
// a newline (or any byte the simple form cannot carry) "KEY\n", the length as
// a little-endian u64, the value, "\n".
// Pure apart from stderrIsJournal's stat: no FFI, so that shared/log.ts can
// import it in every program (see journal_socket.ts for the sending side).

export const JOURNAL_SOCKET = "/run/systemd/journal/socket";
/** Overrides JOURNAL_SOCKET (tests bind their own). */
export const JOURNAL_SOCKET_ENV = "SPAWN_JOURNAL_SOCKET";

/** Field values: strings (UTF-8), numbers and bigints (decimal), or raw bytes. */
export type FieldValue = string | number | bigint | Uint8Array;
export type JournalFields = Record<string, FieldValue>;

const encoder = new TextEncoder();
const FIELD_NAME = /^[A-Z0-9][A-Z0-9_]{0,63}$/;

/** True for names journald accepts from a client (no leading "_", upper case, digits, "_"). */
export function isValidFieldName(name: string): boolean {
  return FIELD_NAME.test(name);
}

function valueBytes(value: FieldValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return encoder.encode(typeof value === "string" ? value : String(value));
}

/**
 * The datagram for one entry. Invalid field names throw (a programming
 * error, not input); values are binary-safe.
 */
export function encodeJournalEntry(fields: JournalFields): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const [name, value] of Object.entries(fields)) {
    if (!isValidFieldName(name)) throw new RangeError(`invalid journal field name '${name}'`);
    const bytes = valueBytes(value);
    const key = encoder.encode(name);
    if (bytes.includes(0x0a)) {
      const length = new Uint8Array(8);
      new DataView(length.buffer).setBigUint64(0, BigInt(bytes.length), true);
      parts.push(key, Uint8Array.of(0x0a), length, bytes, Uint8Array.of(0x0a));
    } else {
      parts.push(key, Uint8Array.of(0x3d), bytes, Uint8Array.of(0x0a));
    }
  }
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The inverse of encodeJournalEntry (tests, and the test journal socket). */
export function decodeJournalEntry(datagram: Uint8Array): Map<string, Uint8Array> {
  const fields = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  let offset = 0;
  while (offset < datagram.length) {
    const newline = datagram.indexOf(0x0a, offset);
    if (newline < 0) throw new Error(`journal entry: unterminated field at byte ${offset}`);
    const line = datagram.subarray(offset, newline);
    const equals = line.indexOf(0x3d);
    if (equals >= 0) {
      fields.set(decoder.decode(line.subarray(0, equals)), line.slice(equals + 1));
      offset = newline + 1;
      continue;
    }
    const name = decoder.decode(line);
    const start = newline + 1 + 8;
    if (start > datagram.length) throw new Error(`journal entry: ${name}: length cut short`);
    const length = Number(
      new DataView(datagram.buffer, datagram.byteOffset + newline + 1, 8).getBigUint64(0, true),
    );
    if (start + length + 1 > datagram.length || datagram[start + length] !== 0x0a) {
      throw new Error(`journal entry: ${name}: value of ${length} bytes cut short`);
    }
    fields.set(name, datagram.slice(start, start + length));
    offset = start + length + 1;
  }
  return fields;
}

/**
 * JOURNAL_STREAM ("DEV:INODE", set by systemd for a stream connected to the
 * journal) names the stream on fd 2: then stderr goes to the journal, and
 * native entries may replace its lines. A variable inherited from a parent
 * whose stderr was redirected does not match.
 */
export function stderrIsJournal(journalStream: string | undefined): boolean {
  const m = journalStream?.match(/^(\d+):(\d+)$/);
  if (!m) return false;
  try {
    // stat follows /proc/self/fd/2 to the socket (or file) itself.
    const stat = Deno.statSync("/proc/self/fd/2");
    return stat.dev === Number(m[1]) && stat.ino === Number(m[2]);
  } catch {
    return false;
  }
}
