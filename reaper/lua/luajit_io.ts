// The io library as LuaJIT's where fengari's differs. file:setvbuf and
// file:seek were missing.
// Scripts open no files here (no io.open), but io.stdout:setvbuf("no") is a
// common first line of a script that logs, and raised "attempt to call a nil
// value" at startup, which is fatal. tostring(io.stdout) says "file (0x...)"
// as in LuaJIT, not fengari's "file ([object Object])". And io.write and
// file:write answer as LuaJIT's: true (not the file), and a stdout that is
// gone (EPIPE) loses the text silently, as LuaJIT's buffered stdout does
// (fengari answered nil, "Broken pipe (os error 32)", nan, so an
// assert(io.write(...)) failed the handler).
import { lseek, write } from "../../ffi/fd.ts";
import { SysError } from "../../ffi/sys_error.ts";
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { pushFileError } from "./file_result.ts";

const BUFFER_MODES = ["no", "full", "line"].map(to_luastring);
const WHENCE = ["set", "cur", "end"].map(to_luastring);
const IO_OUTPUT = to_luastring("_IO_output"); // fengari's registry key of io.output()
const EPIPE = 32;

/** The fd of the open file handle at index 1 (fengari: { f: { fd } }, closef null once closed). */
function fileDescriptor(L: LuaState): number {
  const handle = lauxlib.luaL_checkudata(L, 1, lauxlib.LUA_FILEHANDLE);
  if (handle.closef === null) lauxlib.luaL_error(L, to_luastring("attempt to use a closed file"));
  return handle.f.fd;
}

/** file:setvbuf(mode [, size]): writes here are unbuffered whatever the mode. */
function setvbuf(L: LuaState): number {
  fileDescriptor(L);
  lauxlib.luaL_checkoption(L, 2, null, BUFFER_MODES);
  lauxlib.luaL_optnumber(L, 3, 0);
  lua.lua_pushboolean(L, true);
  return 1;
}

/** file:seek([whence [, offset]]): the new offset, or nil, strerror, errno ("Illegal seek" on a pipe). */
function seek(L: LuaState): number {
  const fd = fileDescriptor(L);
  const whence = lauxlib.luaL_checkoption(L, 2, to_luastring("cur"), WHENCE);
  const offset = Math.trunc(lauxlib.luaL_optnumber(L, 3, 0));
  try {
    lua.lua_pushnumber(L, lseek(fd, offset, whence));
    return 1;
  } catch (e) {
    return pushFileError(L, e);
  }
}

function fileToString(L: LuaState): number {
  const handle = lauxlib.luaL_checkudata(L, 1, lauxlib.LUA_FILEHANDLE);
  if (handle.closef === null) lua.lua_pushstring(L, to_luastring("file (closed)"));
  else lua.lua_pushfstring(L, to_luastring("file (%p)"), handle);
  return 1;
}

/** Writes the arguments from `first` on to fd: true, or nil, strerror, errno. */
function writeArguments(L: LuaState, fd: number, first: number): number {
  const last = lua.lua_gettop(L);
  try {
    for (let i = first; i <= last; i++) {
      const bytes: Uint8Array<ArrayBuffer> = lauxlib.luaL_checklstring(L, i);
      for (let off = 0; off < bytes.length;) {
        const wrote = write(fd, bytes.subarray(off));
        if (wrote === null) break; // a nonblocking stdout that is full: the rest is lost
        off += wrote;
      }
    }
  } catch (e) {
    if (!(e instanceof SysError && e.errno === EPIPE)) return pushFileError(L, e);
  }
  lua.lua_pushboolean(L, true);
  return 1;
}

function fileWrite(L: LuaState): number {
  return writeArguments(L, fileDescriptor(L), 2);
}

function ioWrite(L: LuaState): number {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, IO_OUTPUT);
  const handle = lua.lua_touserdata(L, -1);
  lua.lua_pop(L, 1);
  if (handle.closef === null) lauxlib.luaL_error(L, to_luastring("standard output file is closed"));
  return writeArguments(L, handle.f.fd, 1);
}

export function installLuaJitIo(L: LuaState): void {
  if (lauxlib.luaL_getmetatable(L, lauxlib.LUA_FILEHANDLE) === lua.LUA_TTABLE) {
    lauxlib.luaL_setfuncs(L, { setvbuf, seek, write: fileWrite, __tostring: fileToString }, 0);
  }
  lua.lua_pop(L, 1);
  lua.lua_getglobal(L, to_luastring("io"));
  lauxlib.luaL_setfuncs(L, { write: ioWrite }, 0);
  lua.lua_pop(L, 1);
}
