// Runs Lua snippets through the real reaper runtime (fengari, compat,
// sodium) and converts results to JS values for assertions.
import { createLuaRuntime, type LuaRuntime } from "../../reaper/lua/lua_runtime.ts";
import { installSodium, sodiumReady } from "../../reaper/lua/sodium.ts";
import { lauxlib, lua, type LuaState, to_luastring } from "../../reaper/lua/fengari.ts";
import { safeToString } from "../../reaper/lua/coroutine_runner.ts";

export interface TestRuntime {
  runtime: LuaRuntime;
  L: LuaState;
  /** Lines passed to logError. */
  logs: string[];
  /** Bytes written by print, decoded as latin1 (one entry per print). */
  out: string[];
}

export async function newTestRuntime(instructionBudget?: number): Promise<TestRuntime> {
  await sodiumReady();
  const logs: string[] = [];
  const out: string[] = [];
  const runtime = createLuaRuntime({
    instructionBudget,
    logError: (line) => logs.push(line),
    writeOut: (bytes) => out.push(latin1(bytes)),
  });
  installSodium(runtime.L);
  return { runtime, L: runtime.L, logs, out };
}

/** Bytes as a JS string with one char per byte (binary-safe comparisons). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

export type LuaValue = string | number | boolean | null | { type: string };

function toJs(L: LuaState, idx: number): LuaValue {
  switch (lua.lua_type(L, idx)) {
    case lua.LUA_TNIL:
      return null;
    case lua.LUA_TBOOLEAN:
      return lua.lua_toboolean(L, idx);
    case lua.LUA_TNUMBER:
      return lua.lua_tonumber(L, idx);
    case lua.LUA_TSTRING:
      return latin1(lua.lua_tolstring(L, idx));
    default:
      return { type: latin1(lauxlib.luaL_typename(L, idx)) };
  }
}

export type RunResult = { ok: true; values: LuaValue[] } | { ok: false; error: string };

/** Runs a chunk on the main thread (no coroutine) and returns all its results. */
export function runChunk(L: LuaState, code: string): RunResult {
  const base = lua.lua_gettop(L);
  const bytes = to_luastring(code);
  if (lauxlib.luaL_loadbuffer(L, bytes, bytes.length, to_luastring("=snippet")) !== lua.LUA_OK) {
    const error = safeToString(L, -1);
    lua.lua_settop(L, base);
    return { ok: false, error };
  }
  const status = lua.lua_pcall(L, 0, lua.LUA_MULTRET, 0);
  if (status !== lua.LUA_OK) {
    const error = safeToString(L, -1);
    lua.lua_settop(L, base);
    return { ok: false, error };
  }
  const values: LuaValue[] = [];
  for (let i = base + 1; i <= lua.lua_gettop(L); i++) values.push(toJs(L, i));
  lua.lua_settop(L, base);
  return { ok: true, values };
}

/** A snippet and what it must produce: result values, or an error matching a pattern. */
export interface Case {
  code: string;
  values?: LuaValue[];
  error?: RegExp;
}

/** Checks every case; returns the failures as readable lines (empty = all passed). */
export function runCases(L: LuaState, cases: Case[]): string[] {
  const failures: string[] = [];
  for (const c of cases) {
    const r = runChunk(L, c.code);
    if (c.error !== undefined) {
      if (r.ok) {
        failures.push(`${c.code}: expected error ${c.error}, got ${JSON.stringify(r.values)}`);
      } else if (!c.error.test(r.error)) {
        failures.push(`${c.code}: error ${JSON.stringify(r.error)} !~ ${c.error}`);
      }
    } else if (!r.ok) {
      failures.push(`${c.code}: unexpected error ${JSON.stringify(r.error)}`);
    } else if (JSON.stringify(r.values) !== JSON.stringify(c.values)) {
      failures.push(
        `${c.code}: expected ${JSON.stringify(c.values)}, got ${JSON.stringify(r.values)}`,
      );
    }
  }
  return failures;
}
