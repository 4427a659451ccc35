// What a reaper script may reach (issue 7 item 8). fengari 0.1.5 under Deno
// (which defines `process`, so fengari takes its Node paths) provides:
//   os:  date, difftime, setlocale, time, clock, getenv, remove, rename,
//        tmpname, exit (process.exit), execute (child_process.execSync)
//   io:  write, close, flush, input, output, type, stdin/stdout/stderr;
//        no open, read, lines or popen (io.input/io.output with a file name
//        raise "opening files not yet implemented")
//   package: require with searchers preload, Lua files (package.path), and
//        two JS searchers plus package.loadlib that Node-require() a .js
//        file: arbitrary JavaScript in the daemon, i.e. anything
//   base: loadfile/dofile (read any file the daemon can read), load
//   debug: the full library, including sethook (which would switch off the
//        instruction and memory budgets)
// By default the process-spawning and code-loading holes are removed;
// allowExec restores os.execute, package.loadlib and the JS searchers.
// os.exit and debug.sethook are always removed: the first ends the daemon,
// the second disarms the budgets.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

export interface SandboxOptions {
  /** Keep os.execute, package.loadlib and the JS module searchers. */
  allowExec?: boolean;
}

/** Globals removed, as "table.field", for documentation and tests. */
export function removedFunctions(options: SandboxOptions = {}): string[] {
  const always = ["os.exit", "debug.sethook"];
  if (options.allowExec) return always;
  return [...always, "os.execute", "io.popen", "package.loadlib"];
}

function setField(L: LuaState, table: string, field: string): void {
  if (lua.lua_getglobal(L, to_luastring(table)) === lua.LUA_TTABLE) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, -2, to_luastring(field));
  }
  lua.lua_pop(L, 1);
}

/**
 * Removes the functions above from the state's globals (and from
 * package.loaded, which holds the same tables). Call after luaL_openlibs.
 */
export function applySandbox(L: LuaState, options: SandboxOptions = {}): void {
  for (const name of removedFunctions(options)) {
    const [table, field] = name.split(".");
    setField(L, table, field);
  }
  if (!options.allowExec) keepLuaSearchersOnly(L);
}

/**
 * package.searchers = {preload, Lua files}: drops the two searchers that
 * load JavaScript through Node's require().
 */
function keepLuaSearchersOnly(L: LuaState): void {
  if (lua.lua_getglobal(L, to_luastring("package")) !== lua.LUA_TTABLE) {
    lua.lua_pop(L, 1);
    return;
  }
  if (lua.lua_getfield(L, -1, to_luastring("searchers")) === lua.LUA_TTABLE) {
    const n = lua.lua_rawlen(L, -1);
    for (let i = n; i > 2; i--) {
      lua.lua_pushnil(L);
      lua.lua_rawseti(L, -2, i);
    }
  }
  lua.lua_pop(L, 1);
  lua.lua_pushliteral(L, "");
  lua.lua_setfield(L, -2, to_luastring("cpath"));
  lua.lua_pop(L, 1);
}

/**
 * With a memory budget, string.rep (also s:rep, the same function) refuses
 * a result larger than the whole budget before allocating it: one call could
 * otherwise allocate gigabytes before the next budget check.
 */
export function limitStringRep(L: LuaState, maxBytes: number, message: string): void {
  if (lua.lua_getglobal(L, to_luastring("string")) !== lua.LUA_TTABLE) {
    lua.lua_pop(L, 1);
    return;
  }
  lua.lua_getfield(L, -1, to_luastring("rep"));
  const original = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 1);
  const rep = (C: LuaState): number => {
    const l = lauxlib.luaL_checklstring(C, 1).length;
    const n = lauxlib.luaL_checkinteger(C, 2);
    const lsep = lua.lua_isnoneornil(C, 3) ? 0 : lauxlib.luaL_checklstring(C, 3).length;
    if (n > 0 && n * l + (n - 1) * lsep > maxBytes) {
      lauxlib.luaL_where(C, 1);
      lua.lua_pushstring(C, to_luastring(message));
      lua.lua_concat(C, 2);
      return lua.lua_error(C);
    }
    return original(C);
  };
  lua.lua_pushcfunction(L, rep);
  lua.lua_setfield(L, -2, to_luastring("rep"));
  lua.lua_pop(L, 1);
}
