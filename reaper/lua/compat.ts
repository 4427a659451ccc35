// LuaJIT / Lua 5.1 compatibility globals for scripts written for the
// original daemon (decision 8, issue 10): unpack, loadstring, table.maxn and
// the `bit` library with LuaJIT's 32-bit semantics; also table.getn and the
// 5.1 math functions 5.3 dropped (pow, log10, atan2, ldexp, frexp, cosh,
// sinh, tanh); math.max/min/modf/random, math.type/tointeger and
// table.insert/remove as LuaJIT behaves.
// Number printing is handled in fengari_conf.ts.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { bitBand, bitBor, bitBxor, bitToHex, toBit } from "./bit_ops.ts";

function checkBit(L: LuaState, idx: number): number {
  return toBit(lauxlib.luaL_checknumber(L, idx));
}

function variadic(op: (a: number, b: number) => number) {
  return (L: LuaState): number => {
    const n = lua.lua_gettop(L);
    let acc = checkBit(L, 1);
    for (let i = 2; i <= n; i++) acc = op(acc, checkBit(L, i));
    lua.lua_pushinteger(L, acc);
    return 1;
  };
}

function unary(op: (a: number) => number) {
  return (L: LuaState): number => {
    lua.lua_pushinteger(L, op(checkBit(L, 1)));
    return 1;
  };
}

function shift(op: (a: number, n: number) => number) {
  return (L: LuaState): number => {
    lua.lua_pushinteger(L, op(checkBit(L, 1), checkBit(L, 2) & 31));
    return 1;
  };
}

const BIT_FUNCTIONS: Record<string, (L: LuaState) => number> = {
  tobit: unary((a) => a),
  bnot: unary((a) => ~a),
  band: variadic(bitBand),
  bor: variadic(bitBor),
  bxor: variadic(bitBxor),
  lshift: shift((a, n) => a << n),
  rshift: shift((a, n) => (a >>> n) | 0),
  arshift: shift((a, n) => a >> n),
  rol: shift((a, n) => (a << n) | (a >>> ((32 - n) & 31))),
  ror: shift((a, n) => (a >>> n) | (a << ((32 - n) & 31))),
  bswap: unary((a) =>
    ((a & 0xff) << 24) | ((a & 0xff00) << 8) | ((a >>> 8) & 0xff00) | ((a >>> 24) & 0xff)
  ),
  tohex: (L: LuaState): number => {
    const x = checkBit(L, 1);
    const n = lua.lua_isnoneornil(L, 2) ? 8 : checkBit(L, 2);
    lua.lua_pushstring(L, to_luastring(bitToHex(x, n)));
    return 1;
  },
};

/** table.maxn: the largest positive numeric key (0 if none), as in Lua 5.1. */
function tableMaxn(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  let max = 0;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, 1)) {
    lua.lua_pop(L, 1);
    if (lua.lua_type(L, -1) === lua.LUA_TNUMBER) {
      const v = lua.lua_tonumber(L, -1);
      if (v > max) max = v;
    }
  }
  lua.lua_pushnumber(L, max);
  return 1;
}

function mathFunction(fn: (...args: number[]) => number, arity: number) {
  return (L: LuaState): number => {
    const args: number[] = [];
    for (let i = 1; i <= arity; i++) args.push(lauxlib.luaL_checknumber(L, i));
    lua.lua_pushnumber(L, fn(...args));
    return 1;
  };
}

/** An integral double that is exact: what "integer" means when every number is a double. */
const isExactInteger = (x: number) => Number.isInteger(x) && Math.abs(x) <= 2 ** 53;

/**
 * math.type / math.tointeger (Lua 5.3 extensions; LuaJIT has neither): all
 * numbers are doubles here (fengari_number_model.ts), so "integer" means an
 * integral value exact in a double (|x| <= 2^53), e.g. cgroup.btime.
 */
function mathType(L: LuaState): number {
  lauxlib.luaL_checkany(L, 1);
  if (lua.lua_type(L, 1) !== lua.LUA_TNUMBER) lua.lua_pushnil(L);
  else {
    lua.lua_pushstring(
      L,
      to_luastring(isExactInteger(lua.lua_tonumber(L, 1)) ? "integer" : "float"),
    );
  }
  return 1;
}

function mathTointeger(L: LuaState): number {
  const x = lua.lua_type(L, 1) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, 1) : NaN;
  if (isExactInteger(x)) lua.lua_pushnumber(L, x);
  else {
    lauxlib.luaL_checkany(L, 1);
    lua.lua_pushnil(L);
  }
  return 1;
}

/**
 * math.max/math.min as LuaJIT's maxsd/minsd: the later argument unless the
 * earlier one is strictly greater/smaller (max(-0, 0) is 0, max(1, nan) nan).
 */
function minMax(max: boolean) {
  return (L: LuaState): number => {
    const n = lua.lua_gettop(L);
    let x = lauxlib.luaL_checknumber(L, 1);
    for (let i = 2; i <= n; i++) {
      const y = lauxlib.luaL_checknumber(L, i);
      if (max ? !(x > y) : !(x < y)) x = y;
    }
    lua.lua_pushnumber(L, x);
    return 1;
  };
}

/**
 * math.ceil as LuaJIT's interpreter computes it (round |x| to nearest, then
 * add 1 if below x): ceil of a value in (-1, -0.5) is +0, not C's -0.
 */
function mathCeil(L: LuaState): number {
  const x = lauxlib.luaL_checknumber(L, 1);
  const c = Math.ceil(x);
  lua.lua_pushnumber(L, c === 0 && x < -0.5 ? 0 : c);
  return 1;
}

/** C modf: both parts carry the sign of x (modf(-0) and modf(-inf) give -0 fractions). */
function mathModf(L: LuaState): number {
  const x = lauxlib.luaL_checknumber(L, 1);
  const ip = Math.trunc(x);
  let frac = Number.isFinite(x) ? x - ip : Number.isNaN(x) ? x : 0;
  if (frac === 0) frac = x < 0 || Object.is(x, -0) ? -0 : 0;
  lua.lua_pushnumber(L, ip);
  lua.lua_pushnumber(L, frac);
  return 2;
}

/**
 * math.log(x [, base]) as LuaJIT computes it: with a base, log2(x) * (1 /
 * log2(base)). Lua 5.3's ln(x) / ln(base) gives other last bits, and scripts
 * see them: math.log(243, 3) is 5 in LuaJIT and 4.9999999999999991 that way,
 * so math.floor of it was 4.
 */
function mathLog(L: LuaState): number {
  const x = lauxlib.luaL_checknumber(L, 1);
  if (lua.lua_gettop(L) < 2) {
    lua.lua_pushnumber(L, Math.log(x));
    return 1;
  }
  const base = lauxlib.luaL_checknumber(L, 2); // nil is an error, as in LuaJIT
  lua.lua_pushnumber(L, Math.log2(x) * (1 / Math.log2(base)));
  return 1;
}

/** C atan2: V8's loses the sign of a result that underflows to 0 (atan2(-5e-324, 3) is -0). */
function atan2(y: number, x: number): number {
  const r = Math.atan2(y, x);
  return r === 0 && y < 0 ? -0 : r;
}

/** Lua 5.1 / LuaJIT math functions that 5.3 dropped. */
const MATH_FUNCTIONS: Record<string, (L: LuaState) => number> = {
  pow: mathFunction(Math.pow, 2),
  log10: mathFunction(Math.log10, 1),
  atan2: mathFunction(atan2, 2),
  log: mathLog,
  ldexp: mathFunction(ldexp, 2),
  cosh: mathFunction(Math.cosh, 1),
  sinh: mathFunction(Math.sinh, 1),
  tanh: mathFunction(Math.tanh, 1),
  type: mathType,
  max: minMax(true),
  min: minMax(false),
  modf: mathModf,
  ceil: mathCeil,
  tointeger: mathTointeger,
  frexp: (L: LuaState): number => {
    const [m, e] = frexp(lauxlib.luaL_checknumber(L, 1));
    lua.lua_pushnumber(L, m);
    lua.lua_pushinteger(L, e);
    return 2;
  },
};

/**
 * LuaJIT's ldexp: m * 2^trunc(e), rounded once. A power of two beyond a
 * double (2^1024, 2^-1075) made it Infinity or 0 where the product is a
 * double (ldexp(1e300, -2000), ldexp(0.99999999999999989, 1024)), so the
 * scaling goes in steps that stay exact: up by at most 2^1023, down with 53
 * bits to spare above the subnormal range until the last step.
 */
export function ldexp(m: number, e: number): number {
  if (!Number.isFinite(e)) return m * 2 ** e; // NaN; 2^inf, 2^-inf (0 * inf is NaN, as in LuaJIT)
  if (m === 0 || !Number.isFinite(m)) return m;
  // Beyond 2,200 either way every finite m gives inf or 0.
  let n = Math.max(-2200, Math.min(2200, Math.trunc(e)));
  for (let steps = 0; n > 1023 && steps < 2; steps++) {
    m *= 2 ** 1023;
    n -= 1023;
  }
  for (let steps = 0; n < -1022 && steps < 2; steps++) {
    m *= 2 ** (-1022 + 53);
    n += 1022 - 53;
  }
  return m * 2 ** Math.max(-1074, Math.min(1023, n));
}

/** C frexp: x = m * 2^e with 0.5 <= |m| < 1 (m = x, e = 0 for 0, inf, nan). */
export function frexp(x: number): [number, number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  // A subnormal is made normal first: 2^-e for its exponent is beyond a
  // double (Infinity), and the loops below never ended on it.
  const bias = Math.abs(x) < 2 ** -1022 ? -64 : 0;
  if (bias !== 0) x *= 2 ** 64;
  let e = Math.floor(Math.log2(Math.abs(x))) + 1;
  let m = x * 2 ** -e;
  while (Math.abs(m) < 0.5) {
    m *= 2;
    e--;
  }
  while (Math.abs(m) >= 1) {
    m /= 2;
    e++;
  }
  return [m, e + bias];
}

/**
 * table.insert as LuaJIT 2.1: raw length, no bounds check on the position
 * (elements from it to the end move up; a position past the end just sets).
 */
function tableInsert(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const nargs = lua.lua_gettop(L);
  let i = lua.lua_rawlen(L, 1) + 1;
  if (nargs !== 2) {
    if (nargs !== 3) {
      return lauxlib.luaL_error(L, to_luastring("wrong number of arguments to 'insert'"));
    }
    const n = lauxlib.luaL_checkinteger(L, 2);
    for (; i > n; i--) {
      lua.lua_rawgeti(L, 1, i - 1);
      lua.lua_rawseti(L, 1, i);
    }
    i = n;
  }
  lua.lua_pushvalue(L, nargs);
  lua.lua_rawseti(L, 1, i);
  return 0;
}

/** t[k] (with metamethods, as LuaJIT's Lua-coded table.remove) for a number k. */
function getIndex(L: LuaState, k: number): void {
  lua.lua_pushnumber(L, k);
  lua.lua_gettable(L, 1);
}

/** t[k] = top of stack (popped). */
function setIndex(L: LuaState, k: number): void {
  lua.lua_pushnumber(L, k);
  lua.lua_insert(L, -2);
  lua.lua_settable(L, 1);
}

/**
 * table.remove as LuaJIT 2.1 (a Lua function there): the position is used as
 * given (not truncated); out of 1..#t nothing is returned.
 */
function tableRemove(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const len = lua.lua_rawlen(L, 1);
  const pos = lua.lua_isnoneornil(L, 2) ? len : lauxlib.luaL_checknumber(L, 2);
  if (lua.lua_isnoneornil(L, 2) ? len === 0 : !(pos >= 1 && pos <= len)) return 0;
  lua.lua_settop(L, 2);
  getIndex(L, pos);
  for (let i = pos + 1; i <= len; i++) {
    getIndex(L, i);
    setIndex(L, i - 1);
  }
  lua.lua_pushnil(L);
  setIndex(L, len);
  return 1;
}

/**
 * math.random as LuaJIT 2.1: on doubles, no range checks (random(3e9) works,
 * random(0) is 1, random(1.5, 3.5) may be 2.5). The uniform number comes from
 * fengari's generator, so math.randomseed still makes runs repeatable.
 */
function mathRandom(uniform: (L: LuaState) => number) {
  return (L: LuaState): number => {
    const n = lua.lua_gettop(L);
    const r1 = n >= 1 ? lauxlib.luaL_checknumber(L, 1) : 0;
    const r2 = n >= 2 ? lauxlib.luaL_checknumber(L, 2) : 0;
    lua.lua_settop(L, 0);
    uniform(L); // fengari's math.random(): a float in [0, 1)
    let d = lua.lua_tonumber(L, -1);
    lua.lua_pop(L, 1);
    if (n === 1) d = Math.floor(d * r1) + 1;
    else if (n >= 2) d = Math.floor(d * (r2 - r1 + 1)) + r1;
    lua.lua_pushnumber(L, d);
    return 1;
  };
}

/** An optional integer argument as LuaJIT reads one (lj_lib_optint: truncated). */
function optInt(L: LuaState, arg: number, fallback: number): number {
  return lua.lua_isnoneornil(L, arg) ? fallback : Math.trunc(lauxlib.luaL_checknumber(L, arg));
}

/** unpack as LuaJIT 2.1: a table only, read raw, to its raw length by default. */
function unpack(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const first = optInt(L, 2, 1);
  const last = optInt(L, 3, lua.lua_rawlen(L, 1));
  if (first > last) return 0;
  const n = last - first + 1;
  if (n >= 8000 || !lua.lua_checkstack(L, n)) { // LuaJIT's LUAI_MAXCSTACK
    return lauxlib.luaL_error(L, to_luastring("too many results to unpack"));
  }
  for (let i = first; i <= last; i++) lua.lua_rawgeti(L, 1, i);
  return n;
}

/** table.concat as LuaJIT 2.1: a table only, read raw; strings and numbers only. */
function tableConcat(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const sep: Uint8Array = lauxlib.luaL_optlstring(L, 2, to_luastring(""));
  const first = optInt(L, 3, 1);
  const last = optInt(L, 4, lua.lua_rawlen(L, 1));
  const b = new lauxlib.luaL_Buffer();
  lauxlib.luaL_buffinit(L, b);
  for (let i = first; i <= last; i++) {
    const type = lua.lua_rawgeti(L, 1, i);
    if (type !== lua.LUA_TSTRING && type !== lua.LUA_TNUMBER) {
      return lauxlib.luaL_error(
        L,
        to_luastring("invalid value (%s) at index %d in table for 'concat'"),
        lauxlib.luaL_typename(L, -1),
        i,
      );
    }
    if (i > first) lauxlib.luaL_addlstring(b, sep, sep.length);
    lauxlib.luaL_addvalue(b); // pops it
  }
  lauxlib.luaL_pushresult(b);
  return 1;
}

/** table.getn (Lua 5.0/5.1, kept by LuaJIT): the length operator without metamethods. */
function tableGetn(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  lua.lua_pushinteger(L, lua.lua_rawlen(L, 1));
  return 1;
}

export function installCompat(L: LuaState): void {
  // What LuaJIT says: scripts that branch on _VERSION take the path written for it.
  lua.lua_pushstring(L, to_luastring("Lua 5.1"));
  lua.lua_setglobal(L, to_luastring("_VERSION"));
  // unpack (LuaJIT's; table.unpack stays 5.3's), loadstring = load
  lua.lua_register(L, to_luastring("unpack"), unpack);
  lua.lua_getglobal(L, to_luastring("table"));
  lauxlib.luaL_setfuncs(L, {
    concat: tableConcat,
    maxn: tableMaxn,
    getn: tableGetn,
    insert: tableInsert,
    remove: tableRemove,
  }, 0);
  lua.lua_pop(L, 1);
  lua.lua_getglobal(L, to_luastring("math"));
  lua.lua_getfield(L, -1, to_luastring("random"));
  const uniform = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 1);
  lua.lua_pushcfunction(L, mathRandom(uniform));
  lua.lua_setfield(L, -2, to_luastring("random"));
  for (const [name, fn] of Object.entries(MATH_FUNCTIONS)) {
    lua.lua_pushcfunction(L, fn);
    lua.lua_setfield(L, -2, to_luastring(name));
  }
  lua.lua_pop(L, 1);
  lua.lua_getglobal(L, to_luastring("load"));
  lua.lua_setglobal(L, to_luastring("loadstring"));

  lua.lua_createtable(L, 0, Object.keys(BIT_FUNCTIONS).length);
  for (const [name, fn] of Object.entries(BIT_FUNCTIONS)) {
    lua.lua_pushcfunction(L, fn);
    lua.lua_setfield(L, -2, to_luastring(name));
  }
  // LuaJIT scripts say `local bit = require("bit")`: LuaJIT has it loaded.
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE);
  lua.lua_pushvalue(L, -2);
  lua.lua_setfield(L, -2, to_luastring("bit"));
  lua.lua_pop(L, 1);
  lua.lua_setglobal(L, to_luastring("bit"));
}
