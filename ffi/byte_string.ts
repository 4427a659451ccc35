// Byte strings: kernel-supplied bytes (file names, paths) kept exact in a JS
// string, one char (U+0000..U+00FF) per byte. They work as Map keys and with
// slice/indexOf like any string, and convert back to the same bytes; unlike
// TextDecoder, nothing is replaced, so a name that is not UTF-8 still names
// its file. Decode to text only when showing it to a person.

/** A string whose chars are all <= 0xff, each standing for one byte. */
export type ByteString = string;

/** The bytes as a byte string. */
export function byteString(bytes: Uint8Array): ByteString {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** The bytes of a byte string. */
export function stringBytes(s: ByteString): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const encoder = new TextEncoder();

/** Text (e.g. a command-line argument) as the byte string of its UTF-8 encoding. */
export function utf8ByteString(text: string): ByteString {
  return byteString(encoder.encode(text));
}

/** The byte arrays one after the other. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
