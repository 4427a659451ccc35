// os.date, os.time, os.difftime, os.clock, os.remove and os.rename as
// LuaJIT 2.1 has them (issue 10): os.date hands its whole format to C
// strftime (strftime.ts), times are time_t (numbers truncated toward zero),
// os.time(table) normalises out-of-range fields like mktime and, like LuaJIT,
// leaves the table alone. remove and rename are C's, failing with
// nil, "NAME: strerror", errno (fengari's gave Node's error texts);
// tmpname creates its file, as LuaJIT's mkstemp does (fengari's only made up
// a name, which another user could then create first in /tmp).
import process from "node:process";
import { closeQuietly } from "../../ffi/fd.ts";
import { mkostemp, remove, rename } from "../../ffi/fs.ts";
import { SysError } from "../../ffi/sys_error.ts";
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { pushFileError } from "./file_result.ts";
import { breakDown, format, localEpoch } from "./strftime.ts";

const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const toLatin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** (time_t)n: truncation; nan and values beyond int64 have no time. */
function toTime(n: number): number {
  const t = Math.trunc(n);
  return Math.abs(t) < 2 ** 63 ? t : NaN;
}

function setField(L: LuaState, key: string, value: number | boolean): void {
  if (typeof value === "boolean") lua.lua_pushboolean(L, value);
  else lua.lua_pushnumber(L, value);
  lua.lua_setfield(L, -2, to_luastring(key));
}

function osDate(L: LuaState): number {
  let fmt = lua.lua_isnoneornil(L, 1) ? "%c" : latin1(lauxlib.luaL_checklstring(L, 1));
  const t = lua.lua_isnoneornil(L, 2)
    ? Math.floor(Date.now() / 1000)
    : toTime(lauxlib.luaL_checknumber(L, 2));
  const utc = fmt.startsWith("!");
  if (utc) fmt = fmt.slice(1);
  const tm = breakDown(t, utc);
  if (tm === null) {
    lua.lua_pushnil(L);
  } else if (fmt === "*t") {
    lua.lua_createtable(L, 0, 9);
    setField(L, "year", tm.year);
    setField(L, "month", tm.month);
    setField(L, "day", tm.day);
    setField(L, "hour", tm.hour);
    setField(L, "min", tm.min);
    setField(L, "sec", tm.sec);
    setField(L, "yday", tm.yday + 1);
    setField(L, "wday", tm.wday + 1);
    setField(L, "isdst", tm.isdst);
  } else {
    const bytes = toLatin1Bytes(format(fmt, tm));
    lua.lua_pushlstring(L, bytes, bytes.length);
  }
  return 1;
}

/** LuaJIT's getfield: a number (truncated), else the default, else an error if none. */
function dateField(L: LuaState, key: string, def: number): number {
  lua.lua_getfield(L, 1, to_luastring(key));
  let value = def;
  if (lua.lua_isnumber(L, -1)) value = Math.trunc(lua.lua_tonumber(L, -1));
  else if (def < 0) lauxlib.luaL_error(L, to_luastring(`field '${key}' missing in date table`));
  lua.lua_pop(L, 1);
  return value;
}

function osTime(L: LuaState): number {
  let t: number;
  if (lua.lua_isnoneornil(L, 1)) {
    t = Math.floor(Date.now() / 1000);
  } else {
    lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
    lua.lua_settop(L, 1);
    const sec = dateField(L, "sec", 0);
    const min = dateField(L, "min", 0);
    const hour = dateField(L, "hour", 12);
    const day = dateField(L, "day", -1);
    const month = dateField(L, "month", -1);
    const year = dateField(L, "year", -1);
    // isdst: nil lets mktime decide; any other value is true or false (Lua truth).
    lua.lua_getfield(L, 1, to_luastring("isdst"));
    const isdst = lua.lua_isnil(L, -1) ? null : lua.lua_toboolean(L, -1);
    lua.lua_pop(L, 1);
    t = localEpoch(year, month - 1, day, hour, min, sec, isdst);
  }
  // mktime's error value is -1, which LuaJIT cannot tell from 1969-12-31 23:59:59.
  if (Number.isNaN(t) || t === -1) lua.lua_pushnil(L);
  else lua.lua_pushnumber(L, t);
  return 1;
}

function osDifftime(L: LuaState): number {
  const t2 = toTime(lauxlib.luaL_checknumber(L, 1));
  const t1 = lua.lua_isnoneornil(L, 2) ? 0 : toTime(lauxlib.luaL_checknumber(L, 2));
  lua.lua_pushnumber(L, t2 - t1);
  return 1;
}

/** clock()/CLOCKS_PER_SEC: the process's CPU time in seconds. */
function osClock(L: LuaState): number {
  const { user, system } = process.cpuUsage();
  lua.lua_pushnumber(L, (user + system) / 1e6);
  return 1;
}

/** luaL_fileresult: true, or nil, "NAME: strerror", errno. */
function fileResult(L: LuaState, name: Uint8Array, action: () => void): number {
  try {
    action();
  } catch (e) {
    return pushFileError(L, e, name);
  }
  lua.lua_pushboolean(L, true);
  return 1;
}

function osRemove(L: LuaState): number {
  const name: Uint8Array = lauxlib.luaL_checkstring(L, 1);
  return fileResult(L, name, () => remove(name));
}

function osRename(L: LuaState): number {
  const from: Uint8Array = lauxlib.luaL_checkstring(L, 1);
  const to: Uint8Array = lauxlib.luaL_checkstring(L, 2);
  return fileResult(L, from, () => rename(from, to));
}

function osTmpname(L: LuaState): number {
  let file;
  try {
    file = mkostemp("/tmp/lua_XXXXXX");
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    return lauxlib.luaL_error(L, to_luastring("unable to generate a unique filename"));
  }
  closeQuietly(file.fd);
  lua.lua_pushlstring(L, file.path, file.path.length);
  return 1;
}

export function installLuaJitOs(L: LuaState): void {
  if (lua.lua_getglobal(L, to_luastring("os")) === lua.LUA_TTABLE) {
    const fns: Record<string, (L: LuaState) => number> = {
      date: osDate,
      time: osTime,
      difftime: osDifftime,
      clock: osClock,
      remove: osRemove,
      rename: osRename,
      tmpname: osTmpname,
    };
    for (const [name, fn] of Object.entries(fns)) {
      lua.lua_pushcfunction(L, fn);
      lua.lua_setfield(L, -2, to_luastring(name));
    }
  }
  lua.lua_pop(L, 1);
}
