// Lua 5.1 function environments as LuaJIT keeps them (issue 10): setfenv,
// getfenv, module and package.seeall, on Lua 5.3's _ENV upvalues. A
// function's environment is its _ENV upvalue; setfenv first gives the
// function an _ENV of its own (lua_upvaluejoin with a fresh cell), so that,
// as in 5.1, other functions of the same chunk keep theirs.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

const FRESH_CELL_KEY = to_luastring("spawn.luajit_env.fresh_cell");
const ENV = "_ENV";

/** Pushes the function that argument 1 names (a function, or a level: 1 = the caller). */
function pushTarget(L: LuaState): void {
  if (lua.lua_type(L, 1) === lua.LUA_TFUNCTION) {
    lua.lua_pushvalue(L, 1);
    return;
  }
  const level = lua.lua_isnoneornil(L, 1) ? 1 : lauxlib.luaL_checkinteger(L, 1);
  lauxlib.luaL_argcheck(L, level >= 0, 1, to_luastring("level must be non-negative"));
  if (level === 0) {
    lua.lua_pushnil(L); // the thread's environment: the globals
    return;
  }
  const ar = new lua.lua_Debug();
  if (!lua.lua_getstack(L, level, ar)) {
    lauxlib.luaL_argerror(L, 1, to_luastring("invalid level"));
  }
  lua.lua_getinfo(L, to_luastring("f"), ar);
}

/** The index of f's _ENV upvalue (f at stack index fidx), or 0. */
function envUpvalue(L: LuaState, fidx: number): number {
  for (let i = 1;; i++) {
    const name = lua.lua_getupvalue(L, fidx, i);
    if (name === null || name === undefined) return 0;
    lua.lua_pop(L, 1);
    if (new TextDecoder().decode(name) === ENV) return i;
  }
}

function pushGlobals(L: LuaState): void {
  lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, lua.LUA_RIDX_GLOBALS);
}

function getfenv(L: LuaState): number {
  pushTarget(L);
  const f = lua.lua_gettop(L);
  if (lua.lua_isnil(L, f) || lua.lua_iscfunction(L, f)) {
    pushGlobals(L);
    return 1;
  }
  const up = envUpvalue(L, f);
  if (up === 0) pushGlobals(L);
  else lua.lua_getupvalue(L, f, up);
  return 1;
}

/** Sets the environment of the function at fidx to the table on top (popped). */
function setEnvironment(L: LuaState, fidx: number): boolean {
  const up = lua.lua_iscfunction(L, fidx) ? 0 : envUpvalue(L, fidx);
  if (up === 0) {
    lua.lua_pop(L, 1);
    return false;
  }
  // A closure with one fresh upvalue, made by a cached factory.
  lua.lua_rawgetp(L, lua.LUA_REGISTRYINDEX, FRESH_CELL_KEY);
  lua.lua_call(L, 0, 1);
  lua.lua_upvaluejoin(L, fidx, up, -1, 1);
  lua.lua_pop(L, 1);
  lua.lua_setupvalue(L, fidx, up);
  return true;
}

function setfenv(L: LuaState): number {
  lauxlib.luaL_checktype(L, 2, lua.LUA_TTABLE);
  pushTarget(L);
  const f = lua.lua_gettop(L);
  if (lua.lua_isnil(L, f)) {
    return lauxlib.luaL_error(L, to_luastring("'setfenv' cannot change the thread's environment"));
  }
  lua.lua_pushvalue(L, 2);
  if (!setEnvironment(L, f)) {
    return lauxlib.luaL_error(
      L,
      to_luastring("'setfenv' cannot change environment of given object"),
    );
  }
  return 1;
}

/** package.loaded[name], else the (dotted) global path, created as needed. */
function pushModuleTable(L: LuaState, name: Uint8Array): void {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, to_luastring("_LOADED"));
  if (lua.lua_getfield(L, -1, name) === lua.LUA_TTABLE) {
    lua.lua_remove(L, -2);
    return;
  }
  lua.lua_pop(L, 1);
  pushGlobals(L);
  const text = new TextDecoder().decode(name);
  for (const part of text.split(".")) {
    const key = to_luastring(part);
    const t = lua.lua_getfield(L, -1, key);
    if (t === lua.LUA_TNIL) {
      lua.lua_pop(L, 1);
      lua.lua_newtable(L);
      lua.lua_pushvalue(L, -1);
      lua.lua_setfield(L, -3, key);
    } else if (t !== lua.LUA_TTABLE) {
      lauxlib.luaL_error(L, to_luastring(`name conflict for module '${text}'`));
    }
    lua.lua_remove(L, -2);
  }
  lua.lua_pushvalue(L, -1);
  lua.lua_setfield(L, -3, name);
  lua.lua_remove(L, -2);
}

function module(L: LuaState): number {
  const name: Uint8Array = lauxlib.luaL_checklstring(L, 1);
  const last = lua.lua_gettop(L);
  pushModuleTable(L, name);
  const mod = lua.lua_gettop(L);
  if (lua.lua_getfield(L, mod, to_luastring("_NAME")) === lua.LUA_TNIL) {
    lua.lua_pushvalue(L, mod);
    lua.lua_setfield(L, mod, to_luastring("_M"));
    lua.lua_pushvalue(L, 1);
    lua.lua_setfield(L, mod, to_luastring("_NAME"));
    const dot = name.lastIndexOf(46);
    lua.lua_pushlstring(L, name.subarray(0, dot + 1), dot + 1);
    lua.lua_setfield(L, mod, to_luastring("_PACKAGE"));
  }
  lua.lua_pop(L, 1);
  // The caller's environment becomes the module.
  const ar = new lua.lua_Debug();
  if (lua.lua_getstack(L, 1, ar)) {
    lua.lua_getinfo(L, to_luastring("f"), ar);
    const f = lua.lua_gettop(L);
    lua.lua_pushvalue(L, mod);
    setEnvironment(L, f);
    lua.lua_pop(L, 1);
  }
  for (let i = 2; i <= last; i++) {
    lua.lua_pushvalue(L, i);
    lua.lua_pushvalue(L, mod);
    lua.lua_call(L, 1, 0);
  }
  return 0;
}

/** package.seeall(m): globals visible through m's metatable. */
function seeall(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  if (!lua.lua_getmetatable(L, 1)) {
    lua.lua_createtable(L, 0, 1);
    lua.lua_pushvalue(L, -1);
    lua.lua_setmetatable(L, 1);
  }
  pushGlobals(L);
  lua.lua_setfield(L, -2, to_luastring("__index"));
  return 0;
}

export function installLuaJitEnv(L: LuaState): void {
  const factory = to_luastring("local u return function() return u end");
  if (lauxlib.luaL_loadstring(L, factory) !== lua.LUA_OK) throw new Error("luajit_env factory");
  lua.lua_rawsetp(L, lua.LUA_REGISTRYINDEX, FRESH_CELL_KEY);
  lua.lua_register(L, to_luastring("getfenv"), getfenv);
  lua.lua_register(L, to_luastring("setfenv"), setfenv);
  lua.lua_register(L, to_luastring("module"), module);
  if (lua.lua_getglobal(L, to_luastring("package")) === lua.LUA_TTABLE) {
    lua.lua_pushcfunction(L, seeall);
    lua.lua_setfield(L, -2, to_luastring("seeall"));
  }
  lua.lua_pop(L, 1);
}
