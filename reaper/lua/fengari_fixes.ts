// Work-arounds for fengari 0.1.5 bugs that matter to the reaper.
import { lua, type LuaState, to_luastring } from "./fengari.ts";

/** lstate.js CIST_OAH: the call's saved "allow hooks" flag. */
const CIST_OAH = 1;

/**
 * In a coroutine, an error caught by pcall/xpcall restores `allowhook` from
 * the CIST_OAH bit, which fengari's lua_pcallk never sets (it ANDs instead of
 * ORs), so hooks stay off on that thread afterwards: the instruction budget
 * would stop working after the first caught error. Setting the bit before
 * the original pcall/xpcall runs makes the restore correct.
 */
export function fixPcallHooks(L: LuaState): void {
  for (const name of ["pcall", "xpcall"]) {
    lua.lua_getglobal(L, to_luastring(name));
    const original = lua.lua_tocfunction(L, -1);
    lua.lua_pop(L, 1);
    const fixed = (C: LuaState): number => {
      if (C.allowhook) C.ci.callstatus |= CIST_OAH;
      return original(C);
    };
    lua.lua_pushcfunction(L, fixed);
    lua.lua_setglobal(L, to_luastring(name));
  }
}
