// Daemon-managed coroutines (spec §1.2-§1.4): every cgroup_released call,
// every reload and every pg listen callback runs in its own Lua thread that
// may yield. This file owns how such coroutines start, suspend inside JS
// functions (db:execute), resume, finish, fail and get cancelled, plus the
// per-run instruction budget.
//
// Usage from a JS function exposed to Lua (e.g. the pg binding's db:execute):
//
//   function execute(L: LuaState): number {
//     // raises "db:execute must run in a handler, reload or listen coroutine"
//     // when L is the main chunk or a coroutine the script created (decision 4)
//     const waiter = runner.suspend(L, "db:execute", () => query.cancel());
//     query.then((rows) =>
//       waiter.resume((T) => { pushResult(T, rows); return 1; })  // results of execute
//     );
//     return waiter.yield();  // lua_yield: nothing after this line runs
//   }
//
// waiter.resume may be called at any later time, even before waiter.yield():
// it always takes effect in a microtask; after cancellation (shutdown) it is
// a no-op. The push callback runs on the coroutine's thread
// T and returns how many values it pushed; they become the JS function's
// return values in Lua.
//
// New coroutines (e.g. a listen callback) start with
//   runner.spawn("listen", "listen callback 'chan'", (T) => {
//     lua.lua_rawgeti(T, lua.LUA_REGISTRYINDEX, fnRef); return 0; })
// which pushes the function (and any arguments) on T and returns the argument
// count. Keep Lua functions alive across calls with runner.ref(L, idx).
//
// Errors of managed coroutines are logged as one line (decision 3) by
// `logError`, for every kind. The Lua-visible coroutine.resume is replaced so
// that a script resuming a parked managed coroutine runs its completion and
// error handling too (§1.4); it refuses to resume one that waits inside a JS
// function, since JS resumes that one.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { bytesToText, pushText } from "./lua_values.ts";
import type { MemoryBudget } from "./memory_budget.ts";

export type CoroutineKind = "handler" | "reload" | "listen";

export type CoroutineState = "running" | "suspended" | "waiting" | "done";

/** Pushes values on thread T (of coroutine co); returns how many. */
export type PushValues = (T: LuaState, co: ManagedCoroutine) => number;

/** Default instruction budget per run (one resume from JS, or the main chunk). */
export const DEFAULT_INSTRUCTION_BUDGET = 10_000_000;

/** Default cap on handlers parked in a plain coroutine.yield() (memory bound). */
export const DEFAULT_MAX_SUSPENDED = 1000;

/** How often the count hook fires; the budget is checked at this granularity. */
const HOOK_GRANULARITY = 10_000;

const NOT_MANAGED = "must run in a handler, reload or listen coroutine";

/** A suspension of a managed coroutine inside a JS function. */
export class Waiter {
  #done = false;
  #pending: PushValues | null = null;

  constructor(
    private readonly runner: CoroutineRunner,
    readonly coroutine: ManagedCoroutine,
    readonly what: string,
    readonly onCancel: (() => void) | undefined,
  ) {}

  /** True once resumed or cancelled. */
  get settled(): boolean {
    return this.#done;
  }

  /** Yields the coroutine; call as `return waiter.yield()`. Never returns normally. */
  yield(): number {
    this.coroutine.waiter = this;
    return lua.lua_yield(this.coroutine.thread, 0);
  }

  /**
   * Resumes the coroutine with the values push() leaves on its thread. Always
   * deferred to a microtask, so it may be called before yield() and while Lua
   * runs. Later calls, and calls after cancellation, are ignored.
   */
  resume(push: PushValues): void {
    if (this.#done || this.#pending !== null) return;
    this.#pending = push;
    queueMicrotask(() => {
      const pending = this.#pending;
      if (this.#done || pending === null) return;
      this.#pending = null;
      this.#done = true;
      try {
        this.runner.resumeWaiting(this, pending);
      } catch (e) {
        // never let an exception escape into the event loop: the daemon must go on
        this.runner.logError(`resuming ${this.what}: ${e instanceof Error ? e.message : e}`);
      }
    });
  }

  /** @internal shutdown */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = null;
    try {
      this.onCancel?.();
    } catch (e) {
      this.runner.logError(`cancelling ${this.what}: ${e instanceof Error ? e.message : e}`);
    }
  }
}

/** One daemon-managed coroutine (handler, reload or listen callback). */
export class ManagedCoroutine {
  state: CoroutineState = "running";
  /** Set while suspended inside a JS function. */
  waiter: Waiter | null = null;
  /** Resolves true when the function returned, false if it raised or was cancelled. */
  readonly done: Promise<boolean>;
  #resolve!: (ok: boolean) => void;
  #cleanups: (() => void)[] = [];

  constructor(
    readonly kind: CoroutineKind,
    /** Names the coroutine in log lines, e.g. "cgroup_released". */
    readonly label: string,
    readonly thread: LuaState,
  ) {
    this.done = new Promise((resolve) => this.#resolve = resolve);
  }

  /** Runs fn once when the coroutine ends in any way (stale objects, fds). */
  onEnd(fn: () => void): void {
    if (this.state === "done") fn();
    else this.#cleanups.push(fn);
  }

  /** @internal */
  end(ok: boolean, logError: (line: string) => void): void {
    if (this.state === "done") return;
    this.state = "done";
    this.waiter = null;
    for (const fn of this.#cleanups.splice(0)) {
      try {
        fn();
      } catch (e) {
        logError(`${this.label} cleanup: ${e instanceof Error ? e.message : e}`);
      }
    }
    this.#resolve(ok);
  }
}

export interface CoroutineRunnerOptions {
  /** Instructions per run before the run is aborted with an error. */
  instructionBudget?: number;
  /** Receives one line per failed coroutine. */
  logError: (line: string) => void;
  /** Checked every hook granularity and before each run from JS. */
  memoryBudget?: MemoryBudget;
  /**
   * Handlers suspended by a plain coroutine.yield() beyond this many: the
   * oldest is cancelled (logged), so a script that never resumes them cannot
   * grow the daemon without bound.
   */
  maxSuspended?: number;
}

export interface ProtectedResult {
  ok: boolean;
  /** One line: location (when known) and tostring of the error value. */
  message: string;
}

export class CoroutineRunner {
  readonly budget: number;
  readonly logError: (line: string) => void;
  #byThread = new Map<LuaState, ManagedCoroutine>();
  /** Nesting depth of Lua execution started from JS; > 0 while Lua runs. */
  #depth = 0;
  #used = 0;
  #escalated = new Set<LuaState>();
  #closed = false;
  readonly #memory: MemoryBudget | null;
  #memoryOver = false;
  readonly maxSuspended: number;
  /** Handlers parked in a plain yield, oldest first. */
  #suspended = new Set<ManagedCoroutine>();
  readonly #hook: (L: LuaState) => void;

  constructor(readonly L: LuaState, options: CoroutineRunnerOptions) {
    this.budget = options.instructionBudget ?? DEFAULT_INSTRUCTION_BUDGET;
    this.logError = options.logError;
    this.#memory = options.memoryBudget ?? null;
    this.maxSuspended = options.maxSuspended ?? DEFAULT_MAX_SUSPENDED;
    this.#hook = (T: LuaState) => this.#countHook(T);
    // Threads inherit the hook from the thread that creates them.
    lua.lua_sethook(L, this.#hook, lua.LUA_MASKCOUNT, this.#granularity());
    this.#installResume();
  }

  /** True while Lua code runs (JS callbacks must not resume coroutines now). */
  get busy(): boolean {
    return this.#depth > 0;
  }

  /** Number of managed coroutines that have not ended. */
  get live(): number {
    return this.#byThread.size;
  }

  /** Number of handlers parked in a plain coroutine.yield(). */
  get suspendedHandlers(): number {
    return this.#suspended.size;
  }

  /** The managed coroutine running on thread T, if T is one. */
  managedFor(T: LuaState): ManagedCoroutine | undefined {
    return this.#byThread.get(T);
  }

  /** luaL_ref in the registry: keeps the value at idx alive; returns the reference. */
  ref(L: LuaState, idx: number): number {
    lua.lua_pushvalue(L, idx);
    return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  unref(ref: number): void {
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  /**
   * Starts a managed coroutine: push() puts the function and its arguments on
   * the new thread and returns the argument count. It runs at once until it
   * returns, raises or yields.
   */
  spawn(kind: CoroutineKind, label: string, push: PushValues): ManagedCoroutine {
    const thread = lua.lua_newthread(this.L);
    lua.lua_pop(this.L, 1);
    const co = new ManagedCoroutine(kind, label, thread);
    if (this.#closed) {
      co.end(false, this.logError);
      return co;
    }
    this.#byThread.set(thread, co);
    let nargs: number;
    try {
      nargs = push(thread, co);
    } catch (e) {
      this.#byThread.delete(thread);
      co.end(false, this.logError);
      throw e;
    }
    this.#run(co, nargs);
    return co;
  }

  /**
   * For a JS function called on thread L that wants to wait for JS: raises
   * "`what` must run in a handler, reload or listen coroutine" unless L is a
   * managed coroutine; else returns the Waiter to resume it later.
   */
  suspend(L: LuaState, what: string, onCancel?: () => void): Waiter {
    const co = this.#byThread.get(L);
    if (co === undefined || co.state !== "running") {
      lauxlib.luaL_error(L, to_luastring("%s"), to_luastring(`${what} ${NOT_MANAGED}`));
      throw new Error("unreachable");
    }
    return new Waiter(this, co, what, onCancel);
  }

  /** @internal Waiter.resume lands here when Lua is idle. */
  resumeWaiting(waiter: Waiter, push: PushValues): void {
    const co = waiter.coroutine;
    if (co.state !== "waiting" || co.waiter !== waiter) return;
    if (this.busy) {
      queueMicrotask(() => this.resumeWaiting(waiter, push));
      return;
    }
    co.waiter = null;
    let nargs: number;
    try {
      nargs = push(co.thread, co);
    } catch (e) {
      // A failing JS callback must not strand the coroutine: it gets nil, msg.
      lua.lua_settop(co.thread, 0);
      lua.lua_pushnil(co.thread);
      pushText(co.thread, `${waiter.what}: internal error: ${e instanceof Error ? e.message : e}`);
      nargs = 2;
    }
    this.#run(co, nargs);
  }

  /**
   * Calls the function below nargs arguments on the main thread, protected and
   * budgeted (the main chunk, --check-lua). Leaves nothing on the stack.
   */
  pcall(nargs: number): ProtectedResult {
    const L = this.L;
    const base = lua.lua_gettop(L) - nargs; // the function's index
    lua.lua_pushcfunction(L, messageHandler);
    lua.lua_insert(L, base);
    this.#enter();
    let status;
    try {
      status = lua.lua_pcall(L, nargs, 0, base);
    } finally {
      this.#leave();
    }
    let result: ProtectedResult = { ok: true, message: "" };
    if (status !== lua.LUA_OK) {
      result = { ok: false, message: bytesToText(lua.lua_tolstring(L, -1) ?? new Uint8Array()) };
    }
    lua.lua_settop(L, base - 1);
    return result;
  }

  /** Shutdown: cancels every suspended coroutine and its pending JS operation. */
  cancelAll(): void {
    this.#closed = true;
    this.#suspended.clear();
    for (const co of [...this.#byThread.values()]) {
      co.waiter?.cancel();
      this.#byThread.delete(co.thread);
      co.end(false, this.logError);
    }
  }

  #granularity(): number {
    return Math.max(1, Math.min(HOOK_GRANULARITY, this.budget));
  }

  #enter(): void {
    if (this.#depth++ === 0) {
      this.#used = 0;
      this.#memoryOver = this.#memory?.exceeded() ?? false;
    }
  }

  #leave(): void {
    if (--this.#depth === 0 && this.#escalated.size > 0) {
      for (const T of this.#escalated) {
        lua.lua_sethook(T, this.#hook, lua.LUA_MASKCOUNT, this.#granularity());
      }
      this.#escalated.clear();
    }
  }

  #countHook(T: LuaState): void {
    this.chargeSteps(T, lua.lua_gethookcount(T));
  }

  /**
   * Charges work done on thread T (instructions, or pattern-matching steps
   * inside a library call: pattern_budget.ts) to the current run; raises the
   * budget error on T when the run is over its instruction or memory budget.
   */
  chargeSteps(T: LuaState, steps: number): void {
    if (this.#depth === 0) return; // Lua run outside the runner: not budgeted
    this.#used += steps;
    let message: string;
    if (this.#used > this.budget) {
      message = `instruction budget exceeded (${this.budget} instructions per run)`;
    } else if (this.#memory !== null && (this.#memoryOver || this.#memory.exceeded())) {
      this.#memoryOver = true; // sticky for this run: no re-measuring per instruction
      message = this.#memory.message();
    } else {
      return;
    }
    // Fire on every instruction from now on, so a pcall loop cannot swallow it.
    if (!this.#escalated.has(T)) {
      this.#escalated.add(T);
      lua.lua_sethook(T, this.#hook, lua.LUA_MASKCOUNT, 1);
    }
    lauxlib.luaL_where(T, 0);
    pushText(T, message);
    lua.lua_concat(T, 2);
    lua.lua_error(T);
  }

  /**
   * Before running Lua from JS: refuses (as a failed run) while over the
   * memory budget. reload is let through: it is how an admin frees memory.
   */
  #refuseOverBudget(co: ManagedCoroutine): boolean {
    if (!this.#memoryOver || this.#memory === null || co.kind === "reload") return false;
    this.#suspended.delete(co);
    this.#byThread.delete(co.thread);
    co.waiter = null;
    this.logError(`Lua error in ${co.label}: ${this.#memory.message()}`);
    co.end(false, this.logError);
    return true;
  }

  /** Cancels the oldest parked handlers beyond maxSuspended. */
  #capSuspended(): void {
    for (const co of this.#suspended) {
      if (this.#suspended.size <= this.maxSuspended) return;
      this.#suspended.delete(co);
      this.#byThread.delete(co.thread);
      this.logError(
        `Lua error in ${co.label}: cancelled: more than ${this.maxSuspended} handlers ` +
          `suspended in coroutine.yield()`,
      );
      co.end(false, this.logError);
    }
  }

  /** Resumes co from JS with nargs values on its stack and handles the outcome. */
  #run(co: ManagedCoroutine, nargs: number): void {
    co.state = "running";
    this.#suspended.delete(co);
    this.#enter();
    let status;
    try {
      if (this.#refuseOverBudget(co)) return;
      status = lua.lua_resume(co.thread, null, nargs);
    } finally {
      this.#leave();
    }
    this.#settle(co, status, this.L);
    if (status === lua.LUA_OK || status === lua.LUA_YIELD) lua.lua_settop(co.thread, 0);
  }

  /** After a resume of a managed coroutine returned: finish, park or report. */
  #settle(co: ManagedCoroutine, status: number, scratch: LuaState): void {
    if (status === lua.LUA_YIELD) {
      co.state = co.waiter !== null ? "waiting" : "suspended";
      if (co.state === "suspended" && co.kind === "handler") {
        this.#suspended.add(co);
        this.#capSuspended();
      }
      return;
    }
    co.waiter = null;
    this.#suspended.delete(co);
    this.#byThread.delete(co.thread);
    if (status === lua.LUA_OK) {
      co.end(true, this.logError);
      return;
    }
    this.logError(`Lua error in ${co.label}: ${describeThreadError(co.thread, scratch)}`);
    co.end(false, this.logError);
  }

  /** coroutine.resume with §1.4's completion handling for managed coroutines. */
  #installResume(): void {
    const L = this.L;
    const resume = (C: LuaState): number => {
      const T = lua.lua_tothread(C, 1);
      lauxlib.luaL_argcheck(C, T, 1, to_luastring("thread expected"));
      const co = this.#byThread.get(T);
      if (co?.state === "waiting") {
        lua.lua_pushboolean(C, false);
        pushText(C, `cannot resume a coroutine waiting in ${co.waiter?.what ?? "a JS call"}`);
        return 2;
      }
      if (co?.state === "running") {
        // it is the caller or resumed the caller ("normal"): not ours to settle
        lua.lua_pushboolean(C, false);
        pushText(C, "cannot resume non-suspended coroutine");
        return 2;
      }
      const narg = lua.lua_gettop(C) - 1;
      const fail = (text: string): number => {
        lua.lua_pushboolean(C, false);
        pushText(C, text);
        return 2;
      };
      if (!lua.lua_checkstack(T, narg)) return fail("too many arguments to resume");
      if (lua.lua_status(T) === lua.LUA_OK && lua.lua_gettop(T) === 0) {
        return fail("cannot resume dead coroutine");
      }
      lua.lua_xmove(C, T, narg);
      if (co !== undefined) {
        co.state = "running";
        this.#suspended.delete(co);
      }
      const status = lua.lua_resume(T, C, narg);
      if (status === lua.LUA_OK || status === lua.LUA_YIELD) {
        const nres = lua.lua_gettop(T);
        if (!lua.lua_checkstack(C, nres + 1)) {
          lua.lua_pop(T, nres);
          if (co !== undefined) this.#settle(co, status, C);
          return fail("too many results to resume");
        }
        lua.lua_xmove(T, C, nres);
        if (co !== undefined) this.#settle(co, status, C);
        lua.lua_pushboolean(C, true);
        lua.lua_insert(C, -(nres + 1));
        return nres + 1;
      }
      if (co !== undefined) this.#settle(co, status, C);
      lua.lua_xmove(T, C, 1);
      lua.lua_pushboolean(C, false);
      lua.lua_insert(C, -2);
      return 2;
    };
    lua.lua_getglobal(L, to_luastring("coroutine"));
    lua.lua_pushcfunction(L, resume);
    lua.lua_setfield(L, -2, to_luastring("resume"));
    lua.lua_pop(L, 1);
  }
}

/** tostring() of any value, protected against failing __tostring metamethods. */
export function safeToString(L: LuaState, idx: number): string {
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) {
    return bytesToText(lua.lua_tolstring(L, idx));
  }
  const abs = lua.lua_absindex(L, idx);
  lua.lua_pushcfunction(L, toStringFunction);
  lua.lua_pushvalue(L, abs);
  const status = lua.lua_pcall(L, 1, 1, 0);
  const text = status === lua.LUA_OK
    ? bytesToText(lua.lua_tolstring(L, -1))
    : lauxlib.luaL_typename(L, abs) !== null
    ? bytesToText(lauxlib.luaL_typename(L, abs))
    : "?";
  lua.lua_pop(L, 1);
  return text;
}

function toStringFunction(L: LuaState): number {
  lauxlib.luaL_tolstring(L, 1);
  return 1;
}

/** "src:line" of the innermost Lua function on thread T's stack, or null. */
export function firstLuaFrame(T: LuaState, fromLevel = 0): string | null {
  const ar = new lua.lua_Debug();
  for (let level = fromLevel; lua.lua_getstack(T, level, ar); level++) {
    lua.lua_getinfo(T, to_luastring("Sl"), ar);
    if (ar.currentline > 0) return `${bytesToText(ar.short_src)}:${ar.currentline}`;
  }
  return null;
}

/** One line: tostring(error) prefixed by its location unless it already has one. */
export function formatErrorLine(message: string, where: string | null): string {
  const line = message.replace(/\s*\n\s*/g, " ");
  if (where === null || line.startsWith(where + ":")) return line;
  return `${where}: ${line}`;
}

/** Describes the error on top of dead thread T (its frames are intact). */
function describeThreadError(T: LuaState, scratch: LuaState): string {
  const where = firstLuaFrame(T);
  // A dead thread's stack may be full: move the value out and back.
  lua.lua_xmove(T, scratch, 1);
  const message = safeToString(scratch, -1);
  lua.lua_xmove(scratch, T, 1);
  return formatErrorLine(message, where);
}

/** pcall message handler: turns any error value into the one-line message. */
function messageHandler(L: LuaState): number {
  const message = safeToString(L, 1);
  pushText(L, formatErrorLine(message, firstLuaFrame(L, 1)));
  return 1;
}
