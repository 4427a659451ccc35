// Number-to-text conversions shared by the Lua runtime and the pg binding.
// Pure functions, no fengari dependency.

/**
 * Splits a finite, non-zero |x| rounded to `digits` significant digits. Exact
 * ties round away from zero, as LuaJIT's own formatter (lj_strfmt_num.c) and
 * toExponential both do (10000000000000.5 prints as 10000000000001).
 */
function decimalParts(abs: number, digits: number): { mantissa: string; exponent: number } {
  const e = abs.toExponential(digits - 1); // "d.ddde+X"
  const at = e.indexOf("e");
  return { mantissa: e.slice(0, at).replace(".", ""), exponent: Number(e.slice(at + 1)) };
}

function trimFraction(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

function expSuffix(exponent: number): string {
  const sign = exponent < 0 ? "-" : "+";
  return "e" + sign + String(Math.abs(exponent)).padStart(2, "0");
}

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  return null;
}

/**
 * C printf `%.<precision>g`, as LuaJIT's tostring uses with precision 14
 * (`3000000000`, `2.5`, `1e+15`, `1e-05`, `-0`, `inf`, `nan`).
 */
export function formatG(x: number, precision: number): string {
  const special = nonFinite(x);
  if (special !== null) return special;
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  const { mantissa, exponent } = decimalParts(Math.abs(x), precision);
  if (exponent < -4 || exponent >= precision) {
    const m = mantissa.length > 1 ? mantissa[0] + "." + mantissa.slice(1) : mantissa;
    return sign + trimFraction(m) + expSuffix(exponent);
  }
  let fixed: string;
  if (exponent >= 0) {
    const intPart = mantissa.slice(0, exponent + 1).padEnd(exponent + 1, "0");
    fixed = intPart + "." + mantissa.slice(exponent + 1);
  } else {
    fixed = "0." + "0".repeat(-exponent - 1) + mantissa;
  }
  return sign + trimFraction(fixed);
}

/** LuaJIT's number formatting (`%.14g`): decision 8. */
export function formatLuaJitNumber(x: number): string {
  // Fast path: integral values below 1e14 print as plain integers.
  if (Number.isInteger(x) && x < 1e14 && x > -1e14 && !Object.is(x, -0)) return String(x);
  return formatG(x, 14);
}

/**
 * The shortest text that reads back as the same double; fixed notation for
 * decimal exponents in [-4, 16), else `d.ddde±XX` (pg query parameters, §5.3).
 */
export function formatShortestNumber(x: number): string {
  const special = nonFinite(x);
  if (special !== null) return special;
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  const e = Math.abs(x).toExponential(); // shortest round-trip digits
  const at = e.indexOf("e");
  const digits = e.slice(0, at).replace(".", "");
  const exponent = Number(e.slice(at + 1));
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    return sign + m + expSuffix(exponent);
  }
  if (exponent >= 0) {
    const intPart = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
    const frac = digits.slice(exponent + 1);
    return sign + intPart + (frac ? "." + frac : "");
  }
  return sign + "0." + "0".repeat(-exponent - 1) + digits;
}
