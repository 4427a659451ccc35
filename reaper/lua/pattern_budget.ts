// Lua pattern matching counted against the instruction budget (issue 14
// item 11). string.find/match/gmatch/gsub run inside one library call, where
// the VM's count hook never fires: string.find(string.rep("a", 300),
// ".-.-.-.-b") runs for minutes. fengari's matcher enters its recursive
// match() with `ms.matchdepth--`; an accessor on its MatchState prototype
// counts those entries and charges them, in chunks, to the Lua state's meter
// (the coroutine runner's budget), which raises the budget error inside the
// matcher.
import { lua, type LuaState, to_luastring } from "./fengari.ts";

/** Charges steps to the run that executes on thread T; raises (lua_error) when over budget. */
export type StepMeter = (T: LuaState, steps: number) => void;

/** match() entries charged at once (the budget is checked at this granularity). */
export const MATCH_STEP_CHUNK = 256;

/** Meters by fengari global state (shared by a state's threads). */
const meters = new WeakMap<object, StepMeter>();
let installed = false;

interface MatchState {
  L: LuaState;
  __depth: number;
  __n: number;
}

/** The prototype of lstrlib.js's (unexported) MatchState, reached through a gmatch closure. */
function matchStatePrototype(L: LuaState): object {
  const top = lua.lua_gettop(L);
  lua.lua_getglobal(L, to_luastring("string"));
  lua.lua_getfield(L, -1, to_luastring("gmatch"));
  lua.lua_pushliteral(L, "");
  lua.lua_pushliteral(L, "");
  lua.lua_call(L, 2, 1);
  lua.lua_getupvalue(L, -1, 3); // lightuserdata: the GMatchState
  const gm = lua.lua_touserdata(L, -1);
  lua.lua_settop(L, top);
  const proto = gm?.ms ? Object.getPrototypeOf(gm.ms) : null;
  if (proto === null || !("matchdepth" in gm.ms)) {
    throw new Error("fengari's MatchState was not found (fengari version changed?)");
  }
  return proto;
}

function patch(proto: object): void {
  // match() reads matchdepth once on entry and once on exit: the getter
  // counts both (two reads a step). __n starts as 0 from the prototype.
  Object.defineProperty(proto, "__n", { value: 0, writable: true });
  Object.defineProperty(proto, "matchdepth", {
    configurable: true,
    get(this: MatchState): number {
      if (++this.__n >= 2 * MATCH_STEP_CHUNK) {
        this.__n = 0;
        const meter = meters.get(this.L.l_G);
        if (meter) meter(this.L, MATCH_STEP_CHUNK);
      }
      return this.__depth;
    },
    set(this: MatchState, value: number) {
      this.__depth = value;
    },
  });
}

/** Makes pattern matching on L (and its threads) charge meter. */
export function installPatternBudget(L: LuaState, meter: StepMeter): void {
  if (!installed) {
    patch(matchStatePrototype(L));
    installed = true;
  }
  meters.set(L.l_G, meter);
}
