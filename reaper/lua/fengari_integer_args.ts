// LuaJIT's integer arguments in fengari's libraries: luaL_checkinteger and
// luaL_optinteger accept any number and truncate it to a 32-bit integer as
// LuaJIT's lj_lib_checkint does ((int32_t)n: 2.7 is 2, out of range and nan
// are -2^31), where Lua 5.3 raises "number has no integer representation"
// (string.sub(s, n / 2), string.rep(s, 1e9 / 1e8) work as in LuaJIT).
// The library modules copy these functions when they load, so this module is
// evaluated before "fengari" (see fengari.ts).
import "./fengari_number_model.ts";
import lauxlib from "fengari/src/lauxlib.js";
import lapi from "fengari/src/lapi.js";

// deno-lint-ignore no-explicit-any
type Untyped = any;

const aux = lauxlib as Record<string, Untyped>;
const api = lapi as Record<string, Untyped>;
const checknumber = aux.luaL_checknumber;
const isnoneornil = (L: Untyped, arg: number) => api.lua_type(L, arg) <= 0;

/** C's (int32_t)n on x86-64: truncation; nan and out of range give INT_MIN. */
export function toInt32(n: number): number {
  const t = Math.trunc(n);
  return t >= -2147483648 && t <= 2147483647 ? t : -2147483648;
}

aux.luaL_checkinteger = (L: Untyped, arg: number): number => toInt32(checknumber(L, arg));
aux.luaL_optinteger = (L: Untyped, arg: number, def: number): number =>
  isnoneornil(L, arg) ? def : toInt32(checknumber(L, arg));
