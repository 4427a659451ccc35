// Runs Lua snippets against a runtime with `pg` installed, each in a
// daemon-managed "handler" coroutine, and collects logged errors.
import { lauxlib, lua, to_luastring } from "../../reaper/lua/fengari.ts";
import { createLuaRuntime, type LuaRuntime } from "../../reaper/lua/lua_runtime.ts";
import { installPg, type PgOptions } from "../../reaper/lua/pg.ts";

export interface PgLua {
  runtime: LuaRuntime;
  errors: string[];
  output: string[];
  /** Runs code in the main chunk (not a coroutine); throws on error. */
  main(code: string): void;
  /** Runs code as a handler coroutine; resolves when it ends; throws if it raised. */
  handler(code: string): Promise<void>;
  /** Starts a handler without waiting; the promise tells whether it succeeded. */
  spawn(code: string): Promise<boolean>;
  /** Starts a handler that calls the global function `name` with the values push() leaves. */
  spawnCall(name: string, push?: (T: unknown) => number): Promise<boolean>;
  close(): Promise<void>;
}

export function createPgLua(options: PgOptions = {}): PgLua {
  const errors: string[] = [];
  const output: string[] = [];
  const runtime = createLuaRuntime({
    logError: (line) => errors.push(line),
    writeOut: (bytes) => output.push(new TextDecoder().decode(bytes)),
  });
  installPg(runtime.L, runtime, { onEvent: () => {}, ...options });
  const L = runtime.L;
  const load = (T: unknown, code: string) => {
    if (lauxlib.luaL_loadstring(T, to_luastring(code)) !== lua.LUA_OK) {
      const msg = new TextDecoder().decode(lua.lua_tolstring(T, -1));
      lua.lua_pop(T, 1);
      throw new Error(`Lua syntax error: ${msg}`);
    }
  };
  const spawn = (code: string) => {
    let loadError: Error | null = null;
    const co = runtime.runner.spawn("handler", "test handler", (T) => {
      try {
        load(T, code);
      } catch (e) {
        loadError = e as Error;
        lua.lua_pushnil(T);
      }
      return 0;
    });
    if (loadError) throw loadError;
    return co.done;
  };
  return {
    runtime,
    errors,
    output,
    main(code) {
      load(L, code);
      const r = runtime.runner.pcall(0);
      if (!r.ok) throw new Error(r.message);
    },
    async handler(code) {
      const before = errors.length;
      const ok = await spawn(code);
      if (!ok) throw new Error(errors.slice(before).join("\n") || "handler failed");
    },
    spawn,
    spawnCall: (name, push) =>
      runtime.runner.spawn("handler", name, (T) => {
        lua.lua_getglobal(T, to_luastring(name));
        return push ? push(T) : 0;
      }).done,
    close: () => runtime.close(),
  };
}
