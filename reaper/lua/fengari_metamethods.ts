// LuaJIT's (Lua 5.1's) metamethod rules where fengari (Lua 5.3) differs:
//   - `<` and `<=` between values of different types raise "attempt to
//     compare" even when one of them has __lt/__le, and between two tables
//     (or two userdata) a metamethod is used only when both operands have
//     the same one; 5.3 takes whichever operand has one;
//   - `#` of a table is its raw length: 5.1 has __len for userdata only.
// lvm.js calls both through ltm's exports at run time, so patching those
// exports is enough (and order-independent).
import ltmModule from "fengari/src/ltm.js";
import lvmModule from "fengari/src/lvm.js";

// deno-lint-ignore no-explicit-any
type Untyped = any;

const ltm = ltmModule as Record<string, Untyped>;
const lvm = lvmModule as Record<string, Untyped>;
const { TM_LEN } = ltm.TMS as Record<string, number>;

const fasttm = ltm.fasttm;
// Only luaV_objlen asks fasttm for TM_LEN, and only for a table.
ltm.fasttm = (L: Untyped, events: Untyped, event: number) =>
  event === TM_LEN ? null : fasttm(L, events, event);

const callorderTM = ltm.luaT_callorderTM;
/** null = no usable metamethod: the caller raises "attempt to compare". */
ltm.luaT_callorderTM = (L: Untyped, p1: Untyped, p2: Untyped, event: number) => {
  if (p1.ttnov() !== p2.ttnov()) return null;
  const tm1 = ltm.luaT_gettmbyobj(L, p1, event);
  if (tm1.ttisnil()) return null;
  const tm2 = ltm.luaT_gettmbyobj(L, p2, event);
  if (!lvm.luaV_rawequalobj(tm1, tm2)) return null;
  return callorderTM(L, p1, p2, event);
};
