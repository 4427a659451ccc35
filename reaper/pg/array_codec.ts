// PostgreSQL array literals as the reaper's pg:encode_array/decode_array see
// them (spec §5.5): one level, every element quoted on output, unquoted
// elements kept verbatim on input. Works on bytes so Lua strings stay binary.

export class ArrayCodecError extends Error {
  override name = "ArrayCodecError";
}

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `{"e1","e2",...}` with `\` and `"` backslash-escaped; [] gives `{}`. */
export function encodeArray(elements: readonly Uint8Array[]): Uint8Array {
  if (elements.length === 0) return Uint8Array.of(LBRACE, RBRACE);
  const out: number[] = [LBRACE];
  elements.forEach((element, i) => {
    if (i > 0) out.push(COMMA);
    out.push(QUOTE);
    for (const b of element) {
      if (b === QUOTE || b === BACKSLASH) out.push(BACKSLASH);
      out.push(b);
    }
    out.push(QUOTE);
  });
  out.push(RBRACE);
  return Uint8Array.from(out);
}

/** Parses a one-dimensional array literal into its elements' bytes. */
export function decodeArray(s: Uint8Array): Uint8Array[] {
  if (s.length === 0) return [];
  if (s.length === 2 && s[0] === LBRACE && s[1] === RBRACE) return [];
  if (s[0] !== LBRACE) throw new ArrayCodecError("'{' expected");
  const result: Uint8Array[] = [];
  let i = 1;
  const expectEnd = (closeAt: number) => {
    if (closeAt + 1 !== s.length) throw new ArrayCodecError("garbage after '}'");
  };
  while (true) {
    if (s[i] === LBRACE) throw new ArrayCodecError("unexpected '{'");
    if (s[i] === QUOTE) {
      const element: number[] = [];
      i++;
      let closed = false;
      while (i < s.length) {
        const b = s[i];
        if (b === BACKSLASH) {
          if (i + 1 >= s.length) throw new ArrayCodecError("backslash at end of string");
          element.push(s[i + 1]);
          i += 2;
        } else if (b === QUOTE) {
          closed = true;
          i++;
          break;
        } else {
          element.push(b);
          i++;
        }
      }
      if (!closed) throw new ArrayCodecError("missing closing double quote");
      result.push(Uint8Array.from(element));
      if (i >= s.length) throw new ArrayCodecError("'}' expected");
      if (s[i] === COMMA) {
        i++;
        continue;
      }
      if (s[i] === RBRACE) {
        expectEnd(i);
        return result;
      }
      throw new ArrayCodecError("'}' or ',' expected");
    }
    // Unquoted: up to the next comma anywhere, else the first '}'.
    const comma = s.indexOf(COMMA, i);
    if (comma >= 0) {
      result.push(s.slice(i, comma));
      i = comma + 1;
      continue;
    }
    const close = s.indexOf(RBRACE, i);
    if (close < 0) throw new ArrayCodecError("missing '}'");
    result.push(s.slice(i, close));
    expectEnd(close);
    return result;
  }
}
