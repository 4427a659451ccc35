// The reaper's Lua state: fengari with the standard libraries, LuaJIT
// compatibility (decision 8), print to stdout, the daemon-managed coroutine
// runner and the extension globals (sodium; pg via installPg).
import { lauxlib, lua, lualib, type LuaState } from "./fengari.ts";
import { CoroutineRunner } from "./coroutine_runner.ts";
import { installCompat } from "./compat.ts";
import { installLuaJitString } from "./luajit_string.ts";
import { installLuaJitPatterns } from "./luajit_patterns.ts";
import { installLuaJitOs } from "./luajit_os.ts";
import { installLuaJitEnv } from "./luajit_env.ts";
import { installLuaJitLegacy } from "./luajit_legacy.ts";
import { installLuaJitSort } from "./luajit_sort.ts";
import { installLuaJitIo } from "./luajit_io.ts";
import { installLuaJitTableExt } from "./luajit_table_ext.ts";
import { installPatternBudget } from "./pattern_budget.ts";
import { fixPcallHooks } from "./fengari_fixes.ts";
import { installPrint } from "./print.ts";
import { pushText } from "./lua_values.ts";
import { logError } from "../../shared/log.ts";
import { applySandbox, limitStringRep } from "./sandbox.ts";
import { MemoryBudget } from "./memory_budget.ts";

export interface LuaRuntimeOptions {
  /** Instructions per run (handler resume, reload, listen callback, main chunk). */
  instructionBudget?: number;
  /** One line per script error; default: shared/log.ts logError (stderr). */
  logError?: (line: string) => void;
  /** Where print writes; default: stdout, each line written synchronously. */
  writeOut?: (bytes: Uint8Array) => void;
  /** Bytes of JS heap growth the state may cause (see memory_budget.ts); default none. */
  memoryBudget?: number;
  /** Keep os.execute, package.loadlib and JS module loading (see sandbox.ts). */
  allowExec?: boolean;
  /** Handlers parked in a plain coroutine.yield() before the oldest is cancelled. */
  maxSuspended?: number;
}

/** What extension modules (sodium, pg) get: the state and the coroutine runner. */
export interface LuaRuntime {
  readonly L: LuaState;
  readonly runner: CoroutineRunner;
  /** Registers shutdown work (e.g. closing database connections), run by close(). */
  onClose(fn: () => void | Promise<void>): void;
  /** Cancels suspended coroutines, then runs the onClose work. Idempotent. */
  close(): Promise<void>;
}

export function createLuaRuntime(options: LuaRuntimeOptions = {}): LuaRuntime {
  // Before the state exists, so the baseline excludes it (its libraries count).
  const memoryBudget = options.memoryBudget === undefined
    ? undefined
    : new MemoryBudget(options.memoryBudget);
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  applySandbox(L, { allowExec: options.allowExec });
  if (memoryBudget) limitStringRep(L, memoryBudget.limit, memoryBudget.message());
  // A JS exception escaping a JS function becomes a Lua error, not a crash.
  lua.lua_atnativeerror(L, (N: LuaState) => {
    const e = lua.lua_touserdata(N, -1);
    pushText(N, `internal error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  });
  const log = options.logError ?? logError;
  const runner = new CoroutineRunner(L, {
    instructionBudget: options.instructionBudget,
    logError: log,
    memoryBudget,
    maxSuspended: options.maxSuspended,
  });
  fixPcallHooks(L);
  installPatternBudget(L, (T, steps) => runner.chargeSteps(T, steps));
  installCompat(L);
  installLuaJitPatterns(L); // before installLuaJitString wraps string.find
  installLuaJitString(L);
  installLuaJitOs(L);
  installLuaJitEnv(L);
  installLuaJitLegacy(L);
  installLuaJitSort(L);
  installLuaJitIo(L);
  installLuaJitTableExt(L);
  installPrint(L, options.writeOut);
  checkNumberFormatting(L);

  const closers: (() => void | Promise<void>)[] = [];
  let closed: Promise<void> | null = null;
  return {
    L,
    runner,
    onClose: (fn) => void closers.push(fn),
    close() {
      closed ??= (async () => {
        runner.cancelAll();
        for (const fn of closers.splice(0)) {
          try {
            await fn();
          } catch (e) {
            log(`Lua shutdown: ${e instanceof Error ? e.message : e}`);
          }
        }
      })();
      return closed;
    },
  };
}

/** Fails loudly if fengari was loaded before fengari_conf.ts etc. could patch it. */
function checkNumberFormatting(L: LuaState): void {
  lua.lua_pushnumber(L, 3e9);
  const text = new TextDecoder().decode(lua.lua_tolstring(L, -1));
  lua.lua_pop(L, 1);
  // And the number model (fengari_number_model.ts): no 32-bit wrap-around.
  lua.lua_pushinteger(L, 2147483647);
  lua.lua_pushinteger(L, 1);
  lua.lua_arith(L, lua.LUA_OPADD);
  const sum = lua.lua_tonumber(L, -1);
  lua.lua_pop(L, 1);
  if (sum !== 2147483648) {
    throw new Error(
      `fengari's number model is not LuaJIT's (2147483647 + 1 = ${sum}): ` +
        `import fengari only through reaper/lua/fengari.ts`,
    );
  }
  if (text !== "3000000000") {
    throw new Error(
      `fengari number formatting is not configured (tostring(3e9) = ${text}): ` +
        `import fengari only through reaper/lua/fengari.ts`,
    );
  }
}
