// LuaJIT 2.1's string.format conversions (lj_strfmt.c, lj_strfmt_num.c), as
// pure functions on JS numbers and bytes. LuaJIT formats numbers itself,
// like C printf except that exact ties round away from zero (%.0f of 2.5 is
// "3") and %a is always normalised; integer conversions take the double
// truncated to int64 (%d of 3e9 is "3000000000", of 2^63 or nan is
// -9223372036854775808) and %o %u %x %X print it as uint64.

/** One parsed conversion: `%[flags][width][.precision]conv`. */
export interface FormatSpec {
  left: boolean; // '-'
  plus: boolean; // '+'
  space: boolean; // ' '
  alt: boolean; // '#'
  zero: boolean; // '0'
  width: number;
  /** -1 when absent. */
  precision: number;
  /** The conversion character, e.g. "d", "s", "q". */
  conv: string;
}

export class FormatSpecError extends Error {}

const CONVERSIONS = "diouxXcaAeEfFgGqsp";

const isDigit = (b: number | undefined) => b !== undefined && b >= 48 && b <= 57;

/**
 * Parses the conversion starting after a '%' at fmt[at]; returns the spec and
 * the index after it. Width and precision have at most two digits, as in LuaJIT.
 */
export function parseSpec(fmt: Uint8Array, at: number): { spec: FormatSpec; next: number } {
  const spec: FormatSpec = {
    left: false,
    plus: false,
    space: false,
    alt: false,
    zero: false,
    width: 0,
    precision: -1,
    conv: "",
  };
  let i = at;
  for (;; i++) {
    const c = fmt[i];
    if (c === 45) spec.left = true;
    else if (c === 43) spec.plus = true;
    else if (c === 32) spec.space = true;
    else if (c === 35) spec.alt = true;
    else if (c === 48) spec.zero = true;
    else break;
  }
  if (isDigit(fmt[i])) {
    spec.width = fmt[i++] - 48;
    if (isDigit(fmt[i])) spec.width = spec.width * 10 + fmt[i++] - 48;
  }
  if (fmt[i] === 46) {
    i++;
    spec.precision = 0;
    if (isDigit(fmt[i])) {
      spec.precision = fmt[i++] - 48;
      if (isDigit(fmt[i])) spec.precision = spec.precision * 10 + fmt[i++] - 48;
    }
  }
  const c = fmt[i];
  const conv = c === undefined ? "" : String.fromCharCode(c);
  // A third digit of width or precision is an invalid option too.
  if (conv === "" || !CONVERSIONS.includes(conv)) {
    const text = String.fromCharCode(...fmt.subarray(at, i + 1));
    throw new FormatSpecError(`invalid option '%${text}' to 'format'`);
  }
  spec.conv = conv;
  return { spec, next: i + 1 };
}

/** Pads body (sign/prefix already in it) to the width with spaces. */
function padSpaces(body: string, spec: FormatSpec): string {
  if (body.length >= spec.width) return body;
  const fill = " ".repeat(spec.width - body.length);
  return spec.left ? body + fill : fill + body;
}

/** Pads with zeros between prefix and digits when '0' applies, else with spaces. */
function padNumber(prefix: string, digits: string, spec: FormatSpec, zeroOk: boolean): string {
  if (spec.zero && !spec.left && zeroOk) {
    const n = spec.width - prefix.length - digits.length;
    if (n > 0) return prefix + "0".repeat(n) + digits;
  }
  return padSpaces(prefix + digits, spec);
}

function signOf(negative: boolean, spec: FormatSpec): string {
  return negative ? "-" : spec.plus ? "+" : spec.space ? " " : "";
}

const TWO63 = 9223372036854775808;
const TWO64 = 18446744073709551616;
const INT64_MIN = -(2n ** 63n);

/** (int64_t)n as x86-64 converts it: truncation; nan and out of range give INT64_MIN. */
function toInt64(n: number): bigint {
  return n >= -TWO63 && n < TWO63 ? BigInt(Math.trunc(n)) : INT64_MIN;
}

/** %d %i %o %u %x %X of a double. */
export function formatInteger(n: number, spec: FormatSpec): string {
  let negative = false;
  let magnitude: bigint | number;
  const t = Math.trunc(n);
  if (spec.conv === "d" || spec.conv === "i") {
    if (Number.isSafeInteger(t)) {
      negative = t < 0;
      magnitude = Math.abs(t);
    } else {
      const k = toInt64(n);
      negative = k < 0n;
      magnitude = negative ? -k : k;
    }
  } else if (Number.isSafeInteger(t) && t >= 0) {
    magnitude = t;
  } else {
    const k = n >= TWO63 ? toInt64(n - TWO64) : toInt64(n);
    magnitude = k < 0n ? k + 2n ** 64n : k;
  }
  const base = spec.conv === "o" ? 8 : spec.conv === "x" || spec.conv === "X" ? 16 : 10;
  let digits = magnitude.toString(base);
  if (spec.conv === "X") digits = digits.toUpperCase();
  const isZero = magnitude === 0 || magnitude === 0n;
  if (spec.precision === 0 && isZero) digits = "";
  else if (spec.precision > digits.length) digits = digits.padStart(spec.precision, "0");
  let prefix = "";
  if (spec.conv === "d" || spec.conv === "i") prefix = signOf(negative, spec);
  else if (spec.alt && spec.conv === "o" && !digits.startsWith("0")) digits = "0" + digits;
  else if (spec.alt && !isZero && spec.conv === "x") prefix = "0x";
  else if (spec.alt && !isZero && spec.conv === "X") prefix = "0X";
  return padNumber(prefix, digits, spec, spec.precision < 0);
}

/** Non-finite values for every float conversion: no zero padding, nan has no '-' or '+'. */
function formatNonFinite(x: number, spec: FormatSpec): string {
  const upper = spec.conv === spec.conv.toUpperCase();
  let body: string;
  if (Number.isNaN(x)) body = (spec.space ? " " : "") + "nan";
  else body = signOf(x < 0, spec) + "inf";
  return padSpaces(upper ? body.toUpperCase() : body, spec);
}

/** abs as %f digits with the given precision (ties away from zero, as LuaJIT). */
function fixedDigits(abs: number, precision: number): string {
  if (abs < 1e21) return abs.toFixed(precision);
  // Integral (every double >= 2^53 is): exact through BigInt.
  const whole = BigInt(abs).toString();
  return precision > 0 ? whole + "." + "0".repeat(precision) : whole;
}

/** abs as %e: "d.ddde+XX" with the given precision. */
function expDigits(abs: number, precision: number): { mantissa: string; exponent: number } {
  const s = abs.toExponential(precision);
  const at = s.indexOf("e");
  return { mantissa: s.slice(0, at), exponent: Number(s.slice(at + 1)) };
}

function expSuffix(exponent: number, upper: boolean): string {
  const e = (exponent < 0 ? "-" : "+") + String(Math.abs(exponent)).padStart(2, "0");
  return (upper ? "E" : "e") + e;
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/** The digits of |x| (finite) for %e %f %g. */
function floatBody(abs: number, spec: FormatSpec): string {
  const lower = spec.conv.toLowerCase();
  const upper = spec.conv !== lower;
  let precision = spec.precision < 0 ? 6 : spec.precision;
  if (lower === "f") {
    const s = fixedDigits(abs, precision);
    return spec.alt && precision === 0 ? s + "." : s;
  }
  if (lower === "e") {
    const { mantissa, exponent } = expDigits(abs, precision);
    return mantissa + (spec.alt && precision === 0 ? "." : "") + expSuffix(exponent, upper);
  }
  // %g: precision P (0 means 1); %f if -4 <= X < P, else %e, then zeros go.
  if (precision === 0) precision = 1;
  const exponent = abs === 0 ? 0 : expDigits(abs, precision - 1).exponent;
  let s: string;
  if (exponent >= -4 && exponent < precision) {
    s = fixedDigits(abs, precision - 1 - exponent);
    if (spec.alt && !s.includes(".")) s += ".";
    return spec.alt ? s : stripZeros(s);
  }
  const e = expDigits(abs, precision - 1);
  let m = e.mantissa;
  if (spec.alt && !m.includes(".")) m += ".";
  return (spec.alt ? m : stripZeros(m)) + expSuffix(e.exponent, upper);
}

/** %a: LuaJIT writes every finite value normalised (0x1p-1074, not 0x0.0...1p-1022). */
function hexFloatBody(abs: number, spec: FormatSpec): string {
  const upper = spec.conv === "A";
  let body: string;
  if (abs === 0) {
    const frac = spec.precision > 0 ? "." + "0".repeat(spec.precision) : spec.alt ? "." : "";
    body = "0x0" + frac + "p+0";
  } else {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, abs);
    let bits = view.getBigUint64(0);
    let exponent = Number(bits >> 52n);
    let mantissa = bits & ((1n << 52n) - 1n);
    if (exponent === 0) { // subnormal: normalise
      exponent = 1;
      while ((mantissa & (1n << 52n)) === 0n) {
        mantissa <<= 1n;
        exponent--;
      }
      mantissa &= (1n << 52n) - 1n;
    }
    exponent -= 1023;
    let lead = 1n;
    let hex: string;
    if (spec.precision >= 0 && spec.precision < 13) {
      const drop = BigInt((13 - spec.precision) * 4);
      bits = (mantissa + (1n << 52n)) + ((1n << drop) >> 1n); // round half up
      bits >>= drop;
      lead = bits >> BigInt(spec.precision * 4);
      const fracBits = bits & ((1n << BigInt(spec.precision * 4)) - 1n);
      hex = spec.precision > 0 ? fracBits.toString(16).padStart(spec.precision, "0") : "";
    } else {
      hex = mantissa.toString(16).padStart(13, "0");
      hex = spec.precision < 0 ? hex.replace(/0+$/, "") : hex.padEnd(spec.precision, "0");
    }
    const point = hex !== "" || spec.alt ? "." : "";
    body = "0x" + lead.toString(16) + point + hex + "p" + (exponent < 0 ? "-" : "+") +
      String(Math.abs(exponent));
  }
  return upper ? body.toUpperCase() : body;
}

/** %a %A %e %E %f %F %g %G of a double. */
export function formatFloat(x: number, spec: FormatSpec): string {
  if (!Number.isFinite(x)) return formatNonFinite(x, spec);
  const negative = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  if (spec.conv === "a" || spec.conv === "A") {
    const body = hexFloatBody(abs, spec);
    const prefix = signOf(negative, spec) + body.slice(0, 2);
    return padNumber(prefix, body.slice(2), spec, true);
  }
  return padNumber(signOf(negative, spec), floatBody(abs, spec), spec, true);
}

/** %c: the low byte of the (int32-truncated) code, padded to the width. */
export function formatChar(code: number, spec: FormatSpec): Uint8Array {
  const byte = new Uint8Array([code & 0xff]);
  return padBytes(byte, spec);
}

/** %s: the bytes, cut to the precision, padded to the width. */
export function formatBytes(bytes: Uint8Array, spec: FormatSpec): Uint8Array {
  const cut = spec.precision >= 0 && spec.precision < bytes.length
    ? bytes.subarray(0, spec.precision)
    : bytes;
  return padBytes(cut, spec);
}

function padBytes(bytes: Uint8Array, spec: FormatSpec): Uint8Array {
  if (bytes.length >= spec.width) return bytes;
  const out = new Uint8Array(spec.width).fill(32);
  out.set(bytes, spec.left ? 0 : spec.width - bytes.length);
  return out;
}

/**
 * %q as LuaJIT writes it: `"`, `\` and newline escaped with a backslash,
 * other control characters (0-31, 127) as decimal escapes, three digits when
 * a digit follows; bytes >= 128 raw.
 */
export function quoteBytes(s: Uint8Array): Uint8Array {
  const out: number[] = [34];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === 34 || c === 92 || c === 10) out.push(92, c);
    else if (c < 32 || c === 127) {
      out.push(92);
      const text = isDigit(s[i + 1]) ? String(c).padStart(3, "0") : String(c);
      for (let j = 0; j < text.length; j++) out.push(text.charCodeAt(j));
    } else out.push(c);
  }
  out.push(34);
  return Uint8Array.from(out);
}
