// LuaJIT `bit` library semantics on JS numbers (pure): operands are
// normalised to signed 32-bit integers, results are signed 32-bit.

/** Round half to even, as the FPU does in LuaJIT's tobit (x + 2^52 + 2^51). */
function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds halves up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** bit.tobit: the number modulo 2^32 as a signed 32-bit integer. */
export function toBit(x: number): number {
  if (Number.isInteger(x)) return x | 0;
  if (!Number.isFinite(x)) return 0; // LuaJIT: low word of inf/nan + 2^52 + 2^51
  return roundHalfEven(x) | 0;
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
