// LuaJIT's number model in fengari (issue 10): every Lua number is a double.
// fengari 0.1.5 implements Lua 5.3 with 32-bit integers that wrap around
// ((a + b) | 0); LuaJIT, which the original daemon runs, has doubles only.
// Instead of vendoring a patched fengari, we make sure no Lua-visible value
// ever carries the integer tag, so the VM always takes its float paths
// (arithmetic, comparisons, `for` loops, unary minus giving -0, ...). The
// integer tag is produced in few places, all patched here at load time:
//   - TValue.setivalue (arithmetic results, OP_LEN, numerals and string
//     coercion via luaO_str2num, luaO_pushvfstring): stores a float;
//   - lua_pushinteger (every library result: string.len, string.byte,
//     string.find, ipairs, math.floor, os.time, ...): pushes a float;
//   - table keys: luaH_setfrom/luaH_setint store integral keys with the
//     integer tag; luaH_next (next, pairs) hands them out as floats;
//   - luaO_str2num (numerals, tonumber, string coercion): hexadecimal
//     integers ("0xffffffff") wrapped at 32 bits; they are now read as
//     doubles, and "0b101", "inf", "nan" are accepted, as LuaJIT does.
// What is left with the integer tag is internal: the parser's constant cache
// indexes, the implicit step 1 of a numeric `for` (its float loop converts
// it), the temporary keys of lua_geti/lua_seti. Lua 5.3's integer-only
// operators (// and the bitwise ones) still work on values that fit 32 bits.
// Tables are a JS Map keyed by the number, so t[1.0] is t[1] and t[2^40] works.
//
// The patches on module exports must be in place before the modules that copy
// them load: lapi's exports before lua.js (imported by "fengari" later, see
// fengari.ts); luai_nummod in fengari_conf.ts before lvm.js loads here.
import "./fengari_conf.ts";
import defs from "fengari/src/defs.js";
// lapi.js first, as lua.js does: the VM modules require each other in a
// cycle that only loads cleanly from there.
import lapi from "fengari/src/lapi.js";
import lobject from "fengari/src/lobject.js";
import ltable from "fengari/src/ltable.js";

// deno-lint-ignore no-explicit-any
type Untyped = any;

const { LUA_TNUMFLT, LUA_TNUMINT } = (defs as Untyped).constant_types as Record<string, number>;
const TValue = (lobject as Untyped).TValue;

TValue.prototype.setivalue = function (this: { type: number; value: number }, x: number) {
  this.type = LUA_TNUMFLT;
  this.value = x;
};

const api = lapi as Record<string, Untyped>;
const pushnumber = api.lua_pushnumber;
api.lua_pushinteger = (L: Untyped, n: number) => pushnumber(L, n);

const tables = ltable as Record<string, Untyped>;
const next = tables.luaH_next;
tables.luaH_next = (L: Untyped, table: Untyped, keyI: number): boolean => {
  const more = next(L, table, keyI);
  if (more) {
    const key = L.stack[keyI];
    if (key.type === LUA_TNUMINT) {
      key.type = LUA_TNUMFLT;
      if (key.value === 0) key.value = 0; // a -0 key reads back as 0, as in LuaJIT
    }
  }
  return more;
};

const objects = lobject as Record<string, Untyped>;
const str2num = objects.luaO_str2num;
/** What LuaJIT's lj_strscan reads beyond Lua 5.3: 0x integers of any size, 0b, inf, nan. */
const LUAJIT_ONLY =
  /^[\t\n\v\f\r ]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[bB]([01]+)|(inf|infinity|nan))[\t\n\v\f\r ]*$/i;
/** Bytes x X b B i I n N: only then can a numeral be one LuaJIT reads differently. */
const MARKERS = new Set([120, 88, 98, 66, 105, 73, 110, 78]);
const isSpace = (b: number) => b === 32 || (b >= 9 && b <= 13);
objects.luaO_str2num = (
  s: Uint8Array,
  o: { value: number; setfltvalue(n: number): void },
): number => {
  if (s.length > 200 || !s.some((b) => MARKERS.has(b))) {
    const size = str2num(s, o);
    // "-0" went through 5.3's integer path, which has no -0.
    if (size !== 0 && o.value === 0 && s[s.findIndex((b) => !isSpace(b))] === 45) {
      o.setfltvalue(-0);
    }
    return size;
  }
  const m = LUAJIT_ONLY.exec(String.fromCharCode(...s));
  if (m === null) return str2num(s, o);
  let n: number;
  if (m[2] !== undefined) {
    // Exact up to 2^53; beyond, BigInt gives the double nearest (ties to even).
    n = m[2].length <= 13 ? parseInt(m[2], 16) : Number(BigInt("0x" + m[2]));
  } else if (m[3] !== undefined) n = Number(BigInt("0b" + m[3]));
  else n = m[4].toLowerCase() === "nan" ? NaN : Infinity;
  o.setfltvalue(m[1] === "-" ? -n : n);
  return s.length + 1;
};

/**
 * C pow(): JS Math.pow gives NaN for 1^nan, 1^inf and (-1)^±inf where C (and
 * LuaJIT) give 1. fengari's OP_POW calls the global Math.pow, so it is
 * replaced process-wide; every other result is unchanged.
 */
const jsPow = Math.pow;
Math.pow = function pow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return jsPow(x, y);
};
