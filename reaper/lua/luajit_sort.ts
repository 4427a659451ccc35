// table.sort as LuaJIT 2.1 has it (Lua 5.1's quicksort), not fengari's
// (Lua 5.3's). A comparator that is not a strict order (`a.k <= b.k`, a
// common slip) sorts in LuaJIT unless it runs off the array, where 5.3
// raises "invalid order function for sorting" much earlier and fails the
// handler: 9 of 85 arrays in a sweep against luajit. Also, 5.3 picks a
// random pivot once a partition is very unbalanced, after which elements
// that compare equal may come out in another order from run to run. The
// array is read and written raw, with its raw length, as in LuaJIT.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

const INVALID_ORDER = "invalid order function for sorting";

/** Whether the value at a sorts before the value at b (indices below the top). */
function before(L: LuaState, a: number, b: number): boolean {
  if (lua.lua_isnil(L, 2)) return lua.lua_compare(L, a, b, lua.LUA_OPLT);
  lua.lua_pushvalue(L, 2);
  lua.lua_pushvalue(L, a - 1);
  lua.lua_pushvalue(L, b - 2);
  lua.lua_call(L, 2, 1);
  const result = lua.lua_toboolean(L, -1);
  lua.lua_pop(L, 1);
  return result;
}

/** t[i] = top, t[j] = the value below it (both popped). */
function set2(L: LuaState, i: number, j: number): void {
  lua.lua_rawseti(L, 1, i);
  lua.lua_rawseti(L, 1, j);
}

/** Raises the error (lua_error throws), with the calling Lua code's position if any. */
function invalidOrder(L: LuaState): void {
  lauxlib.luaL_where(L, 1);
  lua.lua_pushstring(L, to_luastring(INVALID_ORDER));
  lua.lua_concat(L, 2);
  lua.lua_error(L);
}

function sortRange(L: LuaState, lo: number, up: number): void {
  while (lo < up) {
    // Order t[lo], t[middle], t[up]; the middle one becomes the pivot.
    lua.lua_rawgeti(L, 1, lo);
    lua.lua_rawgeti(L, 1, up);
    if (before(L, -1, -2)) set2(L, lo, up);
    else lua.lua_pop(L, 2);
    if (up - lo === 1) return;
    let i = Math.floor((lo + up) / 2);
    lua.lua_rawgeti(L, 1, i);
    lua.lua_rawgeti(L, 1, lo);
    if (before(L, -2, -1)) set2(L, i, lo);
    else {
      lua.lua_pop(L, 1);
      lua.lua_rawgeti(L, 1, up);
      if (before(L, -1, -2)) set2(L, i, up);
      else lua.lua_pop(L, 2);
    }
    if (up - lo === 2) return;
    lua.lua_rawgeti(L, 1, i); // the pivot, kept on the stack
    lua.lua_pushvalue(L, -1);
    lua.lua_rawgeti(L, 1, up - 1);
    set2(L, i, up - 1);
    i = lo;
    let j = up - 1;
    for (;;) {
      while ((lua.lua_rawgeti(L, 1, ++i), before(L, -1, -2))) {
        if (i >= up) invalidOrder(L);
        lua.lua_pop(L, 1);
      }
      while ((lua.lua_rawgeti(L, 1, --j), before(L, -3, -1))) {
        if (j <= lo) invalidOrder(L);
        lua.lua_pop(L, 1);
      }
      if (j < i) {
        lua.lua_pop(L, 3); // the pivot, t[i], t[j]
        break;
      }
      set2(L, i, j);
    }
    lua.lua_rawgeti(L, 1, up - 1);
    lua.lua_rawgeti(L, 1, i);
    set2(L, up - 1, i);
    // Recurse into the smaller part, loop on the larger one.
    if (i - lo < up - i) {
      sortRange(L, lo, i - 1);
      lo = i + 1;
    } else {
      sortRange(L, i + 1, up);
      up = i - 1;
    }
  }
}

function tableSort(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const n = lua.lua_rawlen(L, 1);
  lua.lua_settop(L, 2);
  if (!lua.lua_isnil(L, 2)) lauxlib.luaL_checktype(L, 2, lua.LUA_TFUNCTION);
  lauxlib.luaL_checkstack(L, 40, null);
  sortRange(L, 1, n);
  return 0;
}

export function installLuaJitSort(L: LuaState): void {
  lua.lua_getglobal(L, to_luastring("table"));
  lua.lua_pushcfunction(L, tableSort);
  lua.lua_setfield(L, -2, to_luastring("sort"));
  lua.lua_pop(L, 1);
}
