// Kernel- and workload-supplied bytes made safe for a log line: printable
// UTF-8 is shown as it is, everything else (control characters, DEL, C1
// controls, line and paragraph separators, bidirectional overrides, bytes
// that are not UTF-8) as \xHH per byte, so a name or an xattr can neither
// end a line nor forge one nor steer a terminal. Backslashes stay as they
// are (systemd unit names are full of \x2d), so "\x0a" typed literally and
// an escaped newline look alike; the exact bytes go to Lua, not the log.
import type { ByteString } from "../ffi/byte_string.ts";
import { stringBytes } from "../ffi/byte_string.ts";

function hex(b: number): string {
  return "\\x" + b.toString(16).padStart(2, "0");
}

/** Code points that are valid UTF-8 but must not reach a log line raw. */
function unprintable(cp: number): boolean {
  return cp < 0xa0 || cp === 0x2028 || cp === 0x2029 ||
    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0xfeff;
}

/** Length of the valid UTF-8 sequence at i and its code point, or null. */
function sequenceAt(bytes: Uint8Array, i: number): [number, number] | null {
  const b = bytes[i];
  let n: number, cp: number, min: number;
  if (b >= 0xc2 && b <= 0xdf) [n, cp, min] = [2, b & 0x1f, 0x80];
  else if (b >= 0xe0 && b <= 0xef) [n, cp, min] = [3, b & 0x0f, 0x800];
  else if (b >= 0xf0 && b <= 0xf4) [n, cp, min] = [4, b & 0x07, 0x10000];
  else return null;
  if (i + n > bytes.length) return null;
  for (let k = 1; k < n; k++) {
    const c = bytes[i + k];
    if ((c & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return [n, cp];
}

/** The bytes as log text: printable UTF-8 kept, every other byte as \xHH. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    if (b >= 0x20 && b < 0x7f) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const seq = b >= 0x80 ? sequenceAt(bytes, i) : null;
    if (seq !== null && !unprintable(seq[1])) {
      out += String.fromCodePoint(seq[1]);
      i += seq[0];
    } else {
      for (let k = 0; k < (seq?.[0] ?? 1); k++) out += hex(bytes[i + k]);
      i += seq?.[0] ?? 1;
    }
  }
  return out;
}

/** A byte string (a cgroup path or name) as log text. */
export function printable(s: ByteString): string {
  // Fast path: plain printable ASCII needs no work.
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  return escapeBytes(stringBytes(s));
}

const encoder = new TextEncoder();

/** JS text (e.g. an error message that may quote a path) as log text. */
export function printableText(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  return escapeBytes(encoder.encode(text));
}
