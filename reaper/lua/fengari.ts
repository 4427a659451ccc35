// The one import point of the fengari Lua VM: configures it first (see
// fengari_conf.ts, fengari_number_model.ts, fengari_c_functions.ts,
// fengari_integer_args.ts: each
// must run before the modules that copy what it patches; then
// fengari_metamethods.ts), then re-exports
// its namespaces. fengari ships no types,
// so these are untyped; LuaState names the opaque lua_State for readability.
import "./fengari_conf.ts";
import "./fengari_number_model.ts";
import "./fengari_c_functions.ts"; // before fengari_integer_args.ts loads lauxlib (and lua.js)
import "./fengari_integer_args.ts";
import fengari from "fengari";
import "./fengari_metamethods.ts";

// deno-lint-ignore no-explicit-any
type Untyped = any;

export const lua: Untyped = fengari.lua;
export const lauxlib: Untyped = fengari.lauxlib;
export const lualib: Untyped = fengari.lualib;
export const to_luastring: (s: string) => Uint8Array = fengari.to_luastring;
export const to_jsstring: (s: Uint8Array) => string = fengari.to_jsstring;

/** An opaque fengari lua_State (a main state or a thread). */
// deno-lint-ignore no-explicit-any
export type LuaState = any;

/** A JS function callable from Lua: returns the number of results it pushed. */
export type LuaJsFunction = (L: LuaState) => number;
