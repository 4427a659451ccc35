// Runs a Lua file through the reaper's runtime (fengari with LuaJIT
// compatibility) and returns what it printed, for the differential tests
// against `luajit`. As a command: prints the output, exits 1 on a Lua error.
//
//   deno run -A tests/lua/lua_file_runner.ts FILE.lua
import { createLuaRuntime } from "../../reaper/lua/lua_runtime.ts";
import { lauxlib, lua, to_luastring } from "../../reaper/lua/fengari.ts";
import { safeToString } from "../../reaper/lua/coroutine_runner.ts";

export interface LuaFileResult {
  output: string;
  error: string | null;
}

/** Runs source (named chunkName) on a fresh state; output is print's bytes as latin1. */
export function runLuaSource(source: Uint8Array, chunkName: string): LuaFileResult {
  let output = "";
  const runtime = createLuaRuntime({
    logError: () => {},
    writeOut: (bytes) => {
      for (const b of bytes) output += String.fromCharCode(b);
    },
  });
  const L = runtime.L;
  let error: string | null = null;
  const name = to_luastring("@" + chunkName);
  if (lauxlib.luaL_loadbuffer(L, source, source.length, name) !== lua.LUA_OK) {
    error = safeToString(L, -1);
  } else if (lua.lua_pcall(L, 0, 0, 0) !== lua.LUA_OK) {
    error = safeToString(L, -1);
  }
  void runtime.close();
  return { output, error };
}

if (import.meta.main) {
  const file = Deno.args[0];
  const result = runLuaSource(Deno.readFileSync(file), file);
  Deno.stdout.writeSync(Uint8Array.from(result.output, (c) => c.charCodeAt(0)));
  if (result.error !== null) {
    console.error(result.error);
    Deno.exit(1);
  }
}
