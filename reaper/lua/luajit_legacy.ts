// Lua 5.0/5.1 functions LuaJIT 2.1 keeps and fengari lacks, stubs out or
// changed in 5.2: table.foreach, table.foreachi, gcinfo, newproxy, a
// collectgarbage that answers (fengari's raises "lua_gc not implemented" for
// every option, so a script that logged collectgarbage("count") or called
// collectgarbage() failed in every handler), 5.1's coroutine.running, and
// 5.1's pairs/ipairs: pairs ignores __pairs, ipairs reads raw and wants a
// table (5.3's goes through __index: an object whose class has numeric keys
// iterated those).
import v8 from "node:v8";
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

/**
 * Lua-coded, as in LuaJIT (lib_table.c), so that a callback may yield
 * (db:execute inside table.foreach). `#t` and `next` are raw there.
 */
const FOREACH = `
local type, next, error, rawlen, format = type, next, error, rawlen, string.format
local function check(name, t, f)
  if type(t) ~= "table" then
    error(format("bad argument #1 to '%s' (table expected, got %s)", name, type(t)), 3)
  end
  if type(f) ~= "function" then
    error(format("bad argument #2 to '%s' (function expected, got %s)", name, type(f)), 3)
  end
end
local function foreachi(t, f)
  check("foreachi", t, f)
  for i = 1, rawlen(t) do
    local r = f(i, t[i])
    if r ~= nil then return r end
  end
end
local function foreach(t, f)
  check("foreach", t, f)
  for k, v in next, t do
    local r = f(k, v)
    if r ~= nil then return r end
  end
end
return foreach, foreachi
`;

/** The JS heap in use (with external memory: Lua strings), in bytes. */
function heapBytes(): number {
  const s = v8.getHeapStatistics();
  return s.used_heap_size + s.external_memory;
}

const GC_OPTIONS = [
  "stop",
  "restart",
  "collect",
  "count",
  "step",
  "setpause",
  "setstepmul",
  "isrunning",
];

/**
 * collectgarbage as LuaJIT's options, on V8's collector (which no script
 * can steer): "count" is the reaper's whole JS heap in KiB (fengari keeps
 * no count per state), "collect"/"step" leave the collecting to V8 (a
 * forced full GC takes milliseconds and would stall the daemon on every
 * call), "setpause"/"setstepmul" keep and return the values.
 */
function collectGarbage() {
  const settings = { pause: 200, stepmul: 200, running: true };
  return (L: LuaState): number => {
    const option = lauxlib.luaL_checkoption(
      L,
      1,
      to_luastring("collect"),
      GC_OPTIONS.map(to_luastring),
    );
    const name = GC_OPTIONS[option];
    switch (name) {
      case "count":
        lua.lua_pushnumber(L, heapBytes() / 1024);
        return 1;
      case "step":
        lua.lua_pushboolean(L, true); // a cycle is never pending here
        return 1;
      case "isrunning":
        lua.lua_pushboolean(L, settings.running);
        return 1;
      case "setpause":
      case "setstepmul": {
        const key = name === "setpause" ? "pause" : "stepmul";
        lua.lua_pushnumber(L, settings[key]);
        settings[key] = lauxlib.luaL_optnumber(L, 2, 0);
        return 1;
      }
      case "stop":
      case "restart":
        settings.running = name === "restart";
    }
    lua.lua_pushnumber(L, 0); // stop, restart, collect
    return 1;
  };
}

/** gcinfo(): the heap in KiB, an integer (LuaJIT: total >> 10). */
function gcinfo(L: LuaState): number {
  lua.lua_pushnumber(L, Math.floor(heapBytes() / 1024));
  return 1;
}

/**
 * newproxy([true | proxy]): a zero-size userdata; with true, with a fresh
 * metatable; with a proxy, sharing that proxy's metatable (only metatables
 * newproxy made count: "boolean or proxy expected").
 */
function newproxy() {
  const made = new WeakSet<object>();
  return (L: LuaState): number => {
    lua.lua_settop(L, 1);
    lua.lua_newuserdata(L, 0);
    if (!lua.lua_toboolean(L, 1)) return 1;
    if (lua.lua_isboolean(L, 1)) {
      lua.lua_newtable(L);
      made.add(lua.lua_topointer(L, -1));
    } else {
      const ok = lua.lua_getmetatable(L, 1) && made.has(lua.lua_topointer(L, -1));
      if (!ok) lauxlib.luaL_argerror(L, 1, to_luastring("boolean or proxy expected"));
    }
    lua.lua_setmetatable(L, 2);
    return 1;
  };
}

/** coroutine.running as in 5.1: the running coroutine, or nil on the main thread (5.2: thread, ismain). */
function coroutineRunning(L: LuaState): number {
  if (lua.lua_pushthread(L)) {
    lua.lua_pop(L, 1);
    lua.lua_pushnil(L);
  }
  return 1;
}

/** ipairs' iterator: raw reads, as 5.1's; nothing at the first nil. */
function ipairsNext(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const i = lauxlib.luaL_checknumber(L, 2) + 1;
  lua.lua_pushnumber(L, i);
  return lua.lua_rawgeti(L, 1, i) === lua.LUA_TNIL ? 0 : 2;
}

function ipairs(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  lua.lua_pushcfunction(L, ipairsNext);
  lua.lua_pushvalue(L, 1);
  lua.lua_pushnumber(L, 0);
  return 3;
}

/** pairs(t): next, t, nil, with the global next as installed; __pairs is not consulted (5.1). */
function pairs(next: (L: LuaState) => number) {
  return (L: LuaState): number => {
    lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
    lua.lua_pushcfunction(L, next);
    lua.lua_pushvalue(L, 1);
    lua.lua_pushnil(L);
    return 3;
  };
}

export function installLuaJitLegacy(L: LuaState): void {
  if (lauxlib.luaL_loadstring(L, to_luastring(FOREACH)) !== lua.LUA_OK) {
    throw new Error(`luajit_legacy: ${lua.lua_tojsstring(L, -1)}`);
  }
  lua.lua_call(L, 0, 2);
  lua.lua_getglobal(L, to_luastring("table"));
  lua.lua_insert(L, -3);
  lua.lua_setfield(L, -3, to_luastring("foreachi"));
  lua.lua_setfield(L, -2, to_luastring("foreach"));
  lua.lua_pop(L, 1);
  lua.lua_register(L, to_luastring("collectgarbage"), collectGarbage());
  lua.lua_register(L, to_luastring("gcinfo"), gcinfo);
  lua.lua_register(L, to_luastring("newproxy"), newproxy());
  lua.lua_getglobal(L, to_luastring("next"));
  lua.lua_register(L, to_luastring("pairs"), pairs(lua.lua_tocfunction(L, -1)));
  lua.lua_pop(L, 1);
  lua.lua_register(L, to_luastring("ipairs"), ipairs);
  lua.lua_getglobal(L, to_luastring("coroutine"));
  lua.lua_pushcfunction(L, coroutineRunning);
  lua.lua_setfield(L, -2, to_luastring("running"));
  lua.lua_pop(L, 1);
}
