// The reaper's ReaperHook backed by the admin's Lua script (spec §1):
// loadLuaHook for the daemon and --simulate, checkLuaScript for --check-lua.
import type { HookStatus, ReaperHook, ReleasedCgroup } from "../hook.ts";
import { confineFileLoading } from "./sandbox.ts";
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { createLuaRuntime, type LuaRuntime } from "./lua_runtime.ts";
import { installSodium, sodiumReady } from "./sodium.ts";
import { CgroupObjectGroup, CgroupObjects } from "./cgroup_object.ts";
import { installPg } from "./pg.ts";
import { logError } from "../../shared/log.ts";

export interface LuaHookOptions {
  scriptPath: string;
  /** The cgroup2 mount; parents' xattrs are read from <cgroupRoot><path>. */
  cgroupRoot: string;
  /** Instructions per handler/reload/listen run; default 10 million. */
  instructionBudget?: number;
  /** Bytes of JS heap growth allowed to the Lua state; default unlimited. */
  memoryBudget?: number;
  /** Keep os.execute, package.loadlib and JS module loading; default removed. */
  allowExec?: boolean;
  /** Handlers parked in a plain coroutine.yield() before the oldest is cancelled. */
  maxSuspended?: number;
  /** Script error lines; default stderr via shared/log.ts. */
  logError?: (line: string) => void;
  /** Where print writes; default stdout. */
  writeOut?: (bytes: Uint8Array) => void;
}

/** A Lua state with the script's main chunk run, or the one-line reason it failed. */
/** The directory part of a path ("." for a bare name). */
function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

interface LoadedScript {
  runtime: LuaRuntime;
  error: string | null;
}

async function loadScript(
  scriptPath: string,
  options: Omit<LuaHookOptions, "scriptPath" | "cgroupRoot">,
): Promise<LoadedScript> {
  let source: Uint8Array;
  try {
    source = await Deno.readFile(scriptPath);
  } catch (e) {
    throw new Error(`${scriptPath}: ${e instanceof Error ? e.message : e}`);
  }
  await sodiumReady();
  const runtime = createLuaRuntime(options);
  const L = runtime.L;
  installSodium(L);
  installPg(L, runtime);
  confineFileLoading(L, dirname(scriptPath)); // issue 14 item 12 (reaper helper)
  const chunkName = to_luastring("@" + scriptPath);
  const status = lauxlib.luaL_loadbuffer(L, source, source.length, chunkName);
  if (status !== lua.LUA_OK) {
    const message = new TextDecoder().decode(lua.lua_tolstring(L, -1));
    lua.lua_pop(L, 1);
    return { runtime, error: message.replace(/\s*\n\s*/g, " ") };
  }
  const result = runtime.runner.pcall(0);
  return { runtime, error: result.ok ? null : result.message };
}

/** The type of a global, without leaving it on the stack. */
function globalType(L: LuaState, name: string): number {
  const t = lua.lua_getglobal(L, to_luastring(name));
  lua.lua_pop(L, 1);
  return t;
}

/**
 * Loads the script and runs its main chunk. Throws a one-line Error naming
 * file:line when that fails, or "'cgroup_released' is not a function". A
 * missing cgroup_released is allowed (decision 1): handlers then only
 * resolve true.
 */
export async function loadLuaHook(options: LuaHookOptions): Promise<ReaperHook> {
  // Every script error passes here: counted for the status, a journal field.
  const errors = { count: 0, last: null as string | null };
  const write = options.logError ??
    ((line: string) => logError(line, { SPAWN_LUA_ERROR: line }));
  options = {
    ...options,
    logError: (line) => {
      errors.count++;
      errors.last = line;
      write(line);
    },
  };
  const { runtime, error } = await loadScript(options.scriptPath, options);
  const L = runtime.L;
  if (error !== null) {
    await runtime.close();
    throw new Error(error);
  }
  const handlerType = globalType(L, "cgroup_released");
  if (handlerType !== lua.LUA_TNIL && handlerType !== lua.LUA_TFUNCTION) {
    await runtime.close();
    throw new Error("'cgroup_released' is not a function");
  }
  return new LuaHook(runtime, options, handlerType === lua.LUA_TFUNCTION, errors);
}

class LuaHook implements ReaperHook {
  readonly #runtime: LuaRuntime;
  readonly #logError: (line: string) => void;
  readonly #objects: CgroupObjects;
  /** The handler captured once (§1.1.5): reassigning the global has no effect. */
  readonly #handlerRef: number | null;
  #reloadRunning = false;
  #reloadPending = false;
  #closed = false;

  constructor(
    runtime: LuaRuntime,
    options: LuaHookOptions,
    hasHandler: boolean,
    readonly errors: { count: number; last: string | null } = { count: 0, last: null },
  ) {
    this.#runtime = runtime;
    this.#logError = runtime.runner.logError;
    const L = runtime.L;
    this.#objects = new CgroupObjects(L, options.cgroupRoot);
    if (hasHandler) {
      lua.lua_getglobal(L, to_luastring("cgroup_released"));
      this.#handlerRef = runtime.runner.ref(L, -1);
      lua.lua_pop(L, 1);
    } else {
      this.#handlerRef = null;
    }
  }

  cgroupReleased(cgroup: ReleasedCgroup): Promise<boolean> {
    const ref = this.#handlerRef;
    if (ref === null || this.#closed) return Promise.resolve(true);
    const group = new CgroupObjectGroup(this.#objects.cgroupRoot);
    const label = `cgroup_released('${cgroup.path}')`;
    try {
      const co = this.#runtime.runner.spawn("handler", label, (T, co) => {
        co.onEnd(() => group.close());
        lua.lua_rawgeti(T, lua.LUA_REGISTRYINDEX, ref);
        this.#objects.pushReleased(T, group, cgroup);
        return 1;
      });
      if (co.state !== "done") group.detachFromCore();
      return co.done;
    } catch (e) {
      group.close();
      this.#logError(`${label}: ${e instanceof Error ? e.message : e}`);
      return Promise.resolve(false);
    }
  }

  reload(): void {
    if (this.#closed) return;
    if (this.#reloadRunning) {
      this.#reloadPending = true; // coalesces: exactly one more run
      return;
    }
    this.#startReload();
  }

  #startReload(): void {
    const L = this.#runtime.L;
    if (this.#closed || globalType(L, "reload") === lua.LUA_TNIL) return;
    this.#reloadRunning = true;
    let co;
    try {
      co = this.#runtime.runner.spawn("reload", "reload", (T) => {
        lua.lua_getglobal(T, to_luastring("reload"));
        return 0;
      });
    } catch (e) {
      this.#reloadRunning = false;
      this.#logError(`reload: ${e instanceof Error ? e.message : e}`);
      return;
    }
    co.done.then(() => {
      this.#reloadRunning = false;
      if (this.#reloadPending) {
        this.#reloadPending = false;
        this.#startReload();
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#runtime.close();
  }

  status(): HookStatus {
    const runner = this.#runtime.runner;
    const parked = runner.suspendedHandlers;
    return {
      running: runner.live - parked,
      parked,
      errors: this.errors.count,
      lastError: this.errors.last,
    };
  }
}

/**
 * --check-lua: loads and runs the main chunk without the daemon and reports
 * what the daemon would do with the script. ok is false for syntax or
 * runtime errors and a non-function cgroup_released.
 */
export async function checkLuaScript(
  path: string,
  options: Pick<LuaHookOptions, "allowExec" | "memoryBudget" | "instructionBudget"> = {},
): Promise<{ ok: boolean; messages: string[] }> {
  const { runtime, error } = await loadScript(path, { ...options, logError });
  try {
    if (error !== null) return { ok: false, messages: [error] };
    const L = runtime.L;
    const messages: string[] = [];
    let ok = true;
    const handler = globalType(L, "cgroup_released");
    if (handler === lua.LUA_TFUNCTION) {
      messages.push(`${path}: cgroup_released is defined`);
    } else if (handler === lua.LUA_TNIL) {
      messages.push(
        `${path}: warning: 'cgroup_released' is not defined; cgroups are only logged and deleted`,
      );
    } else {
      ok = false;
      messages.push(`${path}: 'cgroup_released' is not a function`);
    }
    const reload = globalType(L, "reload");
    if (reload === lua.LUA_TFUNCTION) {
      messages.push(`${path}: reload is defined (runs on SIGHUP)`);
    } else if (reload === lua.LUA_TNIL) {
      messages.push(`${path}: reload is not defined (SIGHUP does nothing)`);
    } else {
      messages.push(`${path}: warning: 'reload' is not a function; SIGHUP will log an error`);
    }
    return { ok, messages };
  } finally {
    await runtime.close();
  }
}
