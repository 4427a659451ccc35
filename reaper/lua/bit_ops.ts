// LuaJIT `bit` library semantics on JS numbers (pure): operands are
// normalised to signed 32-bit integers, results are signed 32-bit.

/** LuaJIT's normalisation constant, 2^52 + 2^51. */
const NORMALISER = 6755399441055744;
const sum = new Float64Array(1);
const sumWords = new Int32Array(sum.buffer);
/** Which of the two words holds the low 32 bits of the mantissa. */
const LOW_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

/**
 * bit.tobit as LuaJIT computes it: the low word of the double x + 2^52 + 2^51
 * (the FPU rounds the sum half to even). That is x modulo 2^32 for |x| below
 * 2^51; beyond, the sum itself is rounded and LuaJIT's answers are its own:
 * bit.tobit(2^52 + 1) is 0, bit.band(1e20, 0xffff) is 35904. Taking the
 * integer modulo 2^32 there gave other numbers than scripts get in LuaJIT.
 * inf and nan give 0.
 */
export function toBit(x: number): number {
  sum[0] = x + NORMALISER;
  return sumWords[LOW_WORD];
}

export const bitBand = (a: number, b: number): number => a & b;
export const bitBor = (a: number, b: number): number => a | b;
export const bitBxor = (a: number, b: number): number => a ^ b;

/** bit.tohex(x, n): the low |n| hex digits (default 8), upper case if n < 0. */
export function bitToHex(x: number, n: number): string {
  const upper = n < 0;
  let digits = Math.abs(n);
  if (digits > 8) digits = 8;
  if (digits === 0) return "";
  const hex = (x >>> 0).toString(16).padStart(8, "0").slice(8 - digits);
  return upper ? hex.toUpperCase() : hex;
}
