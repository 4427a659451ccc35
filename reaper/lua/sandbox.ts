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

// ---- issue 14 item 12: loadfile, dofile and require read only the script's directory ----
// The daemon runs with CAP_DAC_OVERRIDE, and a load error quotes the file
// (loadfile("/etc/shadow") reported a line of it), so these functions are
// confined to the directory of the script (symlinks resolved). Relative
// names are taken relative to that directory; reading stdin is refused.

const utf8 = new TextDecoder("utf-8", { fatal: true });

function confinedPath(directory: string, name: Uint8Array): string | { refused: string } {
  let text: string;
  try {
    text = utf8.decode(name);
  } catch {
    return { refused: "a file name that is not UTF-8" };
  }
  const path = text.startsWith("/") ? text : `${directory}/${text}`;
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    real = path; // missing: refused below unless inside (then the load reports "cannot open")
  }
  if (real.startsWith(directory + "/")) return real;
  return { refused: `'${text}' is outside the script's directory ${directory}` };
}

/**
 * Replaces loadfile, dofile and the Lua-file searcher of require with
 * versions that read only files below `directory`. JS functions without
 * upvalues, so debug.getupvalue cannot reach the unconfined originals.
 */
export function confineFileLoading(L: LuaState, scriptDirectory: string): void {
  const directory = Deno.realPathSync(scriptDirectory).replace(/\/+$/, "");
  const original = (name: string) => {
    lua.lua_getglobal(L, to_luastring(name));
    const f = lua.lua_tocfunction(L, -1);
    lua.lua_pop(L, 1);
    return f;
  };
  const loadfile = original("loadfile");
  const dofile = original("dofile");
  const checkArg = (C: LuaState, what: string): string | { refused: string } => {
    if (lua.lua_isnoneornil(C, 1)) return { refused: `${what} from stdin is not allowed` };
    const r = confinedPath(directory, lauxlib.luaL_checklstring(C, 1));
    if (typeof r === "string") {
      lua.lua_pushstring(C, to_luastring(r));
      lua.lua_replace(C, 1);
    }
    return r;
  };
  if (loadfile) {
    lua.lua_pushcfunction(L, (C: LuaState): number => {
      const r = checkArg(C, "loadfile");
      if (typeof r !== "string") {
        lua.lua_pushnil(C);
        lua.lua_pushstring(C, to_luastring(`loadfile: ${r.refused}`));
        return 2;
      }
      return loadfile(C);
    });
    lua.lua_setglobal(L, to_luastring("loadfile"));
  }
  if (dofile) {
    lua.lua_pushcfunction(L, (C: LuaState): number => {
      const r = checkArg(C, "dofile");
      if (typeof r !== "string") {
        lua.lua_settop(C, 0);
        lauxlib.luaL_where(C, 1);
        lua.lua_pushstring(C, to_luastring(`dofile: ${r.refused}`));
        lua.lua_concat(C, 2);
        return lua.lua_error(C);
      }
      return dofile(C);
    });
    lua.lua_setglobal(L, to_luastring("dofile"));
  }
  confineLuaSearcher(L, directory);
}

/** package.searchers[2] (Lua files on package.path), confined to `directory`. */
function confineLuaSearcher(L: LuaState, directory: string): void {
  if (lua.lua_getglobal(L, to_luastring("package")) !== lua.LUA_TTABLE) {
    lua.lua_pop(L, 1);
    return;
  }
  if (lua.lua_getfield(L, -1, to_luastring("searchers")) !== lua.LUA_TTABLE) {
    lua.lua_pop(L, 2);
    return;
  }
  lua.lua_pushcfunction(L, (C: LuaState): number => {
    const name = utf8.decode(lauxlib.luaL_checklstring(C, 1));
    let path = "";
    if (lua.lua_getglobal(C, to_luastring("package")) === lua.LUA_TTABLE) {
      lua.lua_getfield(C, -1, to_luastring("path"));
      const p = lua.lua_tolstring(C, -1);
      if (p) path = new TextDecoder().decode(p);
      lua.lua_pop(C, 1);
    }
    lua.lua_pop(C, 1);
    let tried = "";
    for (const template of path.split(";")) {
      if (template === "") continue;
      const file = template.replaceAll("?", name.replaceAll(".", "/"));
      const r = confinedPath(directory, new TextEncoder().encode(file));
      if (typeof r !== "string") {
        tried += `\n\tno file '${file}' (outside the script's directory)`;
        continue;
      }
      try {
        if (!Deno.statSync(r).isFile) throw new Error();
      } catch {
        tried += `\n\tno file '${file}'`;
        continue;
      }
      if (lauxlib.luaL_loadfilex(C, to_luastring(r), null) !== lua.LUA_OK) {
        return lauxlib.luaL_error(
          C,
          to_luastring("error loading module '%s' from file '%s':\n\t%s"),
          lua.lua_tostring(C, 1),
          to_luastring(r),
          lua.lua_tostring(C, -1),
        );
      }
      lua.lua_pushstring(C, to_luastring(r));
      return 2;
    }
    lua.lua_pushstring(C, to_luastring(tried));
    return 1;
  });
  lua.lua_rawseti(L, -2, 2);
  lua.lua_pop(L, 2);
}
