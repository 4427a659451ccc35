// The failure half of luaL_fileresult, as LuaJIT's io and os functions give
// it: nil, "NAME: strerror" (or the text alone), errno.
import { SysError } from "../../ffi/sys_error.ts";
import { lua, type LuaState, to_luastring } from "./fengari.ts";

/** Pushes nil, message, errno for a failed libc call and returns 3; anything else is rethrown. */
export function pushFileError(L: LuaState, error: unknown, name: Uint8Array | null = null): number {
  if (!(error instanceof SysError)) throw error;
  const reason = to_luastring(error.reason);
  lua.lua_pushnil(L);
  if (name === null) lua.lua_pushstring(L, reason);
  else lua.lua_pushfstring(L, to_luastring("%s: %s"), name, reason);
  lua.lua_pushnumber(L, error.errno);
  return 3;
}
