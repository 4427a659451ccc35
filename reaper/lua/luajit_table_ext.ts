// LuaJIT 2.1's table extension modules: require("table.new") and
// require("table.clear") return the function and add it to `table`, as
// LuaJIT's preload entries do. Scripts tuned for LuaJIT load them, often
// without a pcall fallback, so a missing module stopped them at startup.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

/** table.new(narray, nhash): an empty table (the sizes are only a hint). */
function tableNew(L: LuaState): number {
  const narray = lauxlib.luaL_checknumber(L, 1);
  const nhash = lauxlib.luaL_checknumber(L, 2);
  lua.lua_createtable(
    L,
    Math.max(0, Math.min(narray, 1 << 16)),
    Math.max(0, Math.min(nhash, 1 << 16)),
  );
  return 1;
}

/** table.clear(t): removes every key, keeps the table and its metatable. */
function tableClear(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  lua.lua_settop(L, 1);
  lua.lua_newtable(L); // 2: the keys, gathered first (a traversal must not delete what it walks)
  let n = 0;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, 1)) {
    lua.lua_pop(L, 1);
    lua.lua_pushvalue(L, -1);
    lua.lua_rawseti(L, 2, ++n);
  }
  for (let i = 1; i <= n; i++) {
    lua.lua_rawgeti(L, 2, i);
    lua.lua_pushnil(L);
    lua.lua_rawset(L, 1);
  }
  return 0;
}

function preload(name: string, fn: (L: LuaState) => number) {
  return (L: LuaState): number => {
    lua.lua_getglobal(L, to_luastring("table"));
    lua.lua_pushcfunction(L, fn);
    lua.lua_setfield(L, -2, to_luastring(name));
    lua.lua_getfield(L, -1, to_luastring(name));
    return 1;
  };
}

export function installLuaJitTableExt(L: LuaState): void {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_PRELOAD_TABLE);
  lua.lua_pushcfunction(L, preload("new", tableNew));
  lua.lua_setfield(L, -2, to_luastring("table.new"));
  lua.lua_pushcfunction(L, preload("clear", tableClear));
  lua.lua_setfield(L, -2, to_luastring("table.clear"));
  lua.lua_pop(L, 1);
}
