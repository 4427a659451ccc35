// printf("%.Nf") for doubles: rounds the exact binary value, exact ties to
// even (0.25 -> "0.2", 2.5 -> "2"), which Number.prototype.toFixed does not.

const view = new DataView(new ArrayBuffer(8));
const POW10: bigint[] = [];

function pow10(n: number): bigint {
  return (POW10[n] ??= 10n ** BigInt(n));
}

/** Formats x like C printf("%.*f", digits, x) in the C locale. */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) {
    throw new RangeError(`formatFixed: bad digits ${digits}`);
  }
  if (Number.isNaN(x)) return "nan";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const a = Math.abs(x);
  if (a === Infinity) return sign + "inf";

  // a = mantissa * 2^exponent exactly.
  view.setFloat64(0, a);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (biased === 0) {
    exponent = -1074;
  } else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }

  const scaled = mantissa * pow10(digits);
  let q: bigint;
  if (exponent >= 0) {
    q = scaled << BigInt(exponent);
  } else {
    const den = 1n << BigInt(-exponent);
    q = scaled / den;
    const twice = (scaled - q * den) * 2n;
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  }

  const text = q.toString();
  if (digits === 0) return sign + text;
  const padded = text.padStart(digits + 1, "0");
  return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
}
