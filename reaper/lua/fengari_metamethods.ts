// LuaJIT's (Lua 5.1's) metamethod rules where fengari (Lua 5.3) differs:
//   - `<` and `<=` between values of different types raise "attempt to
//     compare" even when one of them has __lt/__le, and between two tables
//     (or two userdata) a metamethod is used only when both operands have
//     the same one; 5.3 takes whichever operand has one;
//   - `#` of a table is its raw length: 5.1 has __len for userdata only;
//   - `==` between two tables (or userdata) calls the first one's __eq, and
//     only if both have the same metatable or the same __eq; 5.3 calls the
//     first one's, else the second one's, whatever the other has.
// lvm.js calls these through ltm's exports at run time, so patching those
// exports is enough (and order-independent).
import ltmModule from "fengari/src/ltm.js";
import lvmModule from "fengari/src/lvm.js";

// deno-lint-ignore no-explicit-any
type Untyped = any;

const ltm = ltmModule as Record<string, Untyped>;
const lvm = lvmModule as Record<string, Untyped>;
const { TM_LEN, TM_EQ } = ltm.TMS as Record<string, number>;

const fasttm = ltm.fasttm;
// luaV_equalobj asks fasttm for t1's __eq and, only if t1 has none, for
// t2's, then calls what it got through luaT_callTM(L, tm, t1, t2, ...):
// nothing runs in between, so the state below cannot go stale.
let secondEqLookup = false;
let eqToCall: Untyped = null;
ltm.fasttm = (L: Untyped, events: Untyped, event: number) => {
  // Only luaV_objlen asks for TM_LEN, and only for a table.
  if (event === TM_LEN) return null;
  if (event !== TM_EQ) return fasttm(L, events, event);
  if (secondEqLookup) { // t1 has no __eq: not equal, in 5.1
    secondEqLookup = false;
    return null;
  }
  const tm = fasttm(L, events, event);
  if (tm === null) secondEqLookup = true;
  else eqToCall = tm;
  return tm;
};

const callTM = ltm.luaT_callTM;
ltm.luaT_callTM = (
  L: Untyped,
  f: Untyped,
  p1: Untyped,
  p2: Untyped,
  p3: Untyped,
  hasres: number,
) => {
  if (eqToCall !== null && f === eqToCall) {
    eqToCall = null;
    const mt1 = p1.value.metatable, mt2 = p2.value.metatable;
    if (mt1 !== mt2) {
      const tm2 = fasttm(L, mt2, TM_EQ);
      if (tm2 === null || !lvm.luaV_rawequalobj(f, tm2)) {
        p3.setbvalue(false); // the result: not equal
        return;
      }
    }
  }
  return callTM(L, f, p1, p2, p3, hasres);
};

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
