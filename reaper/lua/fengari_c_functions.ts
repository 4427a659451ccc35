// Functions written in JS (fengari's "C functions") described as LuaJIT
// describes C functions: debug.getinfo says what = "C", source "=[C]",
// short_src "[C]" (fengari: "J", "=[JS]", "[JS]"), and so tracebacks read
// "[C]: in function 'error'" as in LuaJIT's. Patched on ldebug's export
// before lua.js copies it (fengari.ts imports this first).
import "fengari/src/lapi.js"; // lapi first: the VM modules' require cycle loads cleanly only from there
import ldebugModule from "fengari/src/ldebug.js";
import defs from "fengari/src/defs.js";

// deno-lint-ignore no-explicit-any
type Untyped = any;

const ldebug = ldebugModule as Record<string, Untyped>;
const toLuaString = (defs as Untyped).to_luastring as (s: string) => Uint8Array;
const JS = 74; // "J"
const C = toLuaString("C");
const SOURCE = toLuaString("=[C]");
const SHORT_SOURCE = toLuaString("[C]");

const getinfo = ldebug.lua_getinfo;
ldebug.lua_getinfo = (L: Untyped, what: Uint8Array, ar: Untyped): number => {
  const status = getinfo(L, what, ar);
  if (ar.what?.length === 1 && ar.what[0] === JS) {
    ar.what = C;
    ar.source = SOURCE;
    ar.short_src = SHORT_SOURCE;
  }
  return status;
};
