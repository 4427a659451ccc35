// Small helpers for JS functions exposed to Lua: binary-safe strings, numbers
// that may exceed fengari's 32-bit integers, and the upstream argument-count
// errors. fengari strings are byte arrays (Uint8Array): data never goes
// through JS strings here.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The bytes of the string (or number, coerced) at idx; raises the usual
 * `bad argument #N` for other types. The array is fengari's interned copy:
 * read it, never modify it.
 */
export function checkBytes(L: LuaState, idx: number): Uint8Array {
  return lauxlib.luaL_checklstring(L, idx);
}

/** Like checkBytes, or null when the value is not a string or number. */
export function toBytes(L: LuaState, idx: number): Uint8Array | null {
  return lua.lua_tolstring(L, idx) ?? null;
}

/** Pushes bytes as a Lua string. fengari keeps the array: do not modify it afterwards. */
export function pushBytes(L: LuaState, bytes: Uint8Array): void {
  lua.lua_pushlstring(L, bytes, bytes.length);
}

/** Pushes a JS string as its UTF-8 bytes (for messages and ASCII values). */
export function pushText(L: LuaState, text: string): void {
  const bytes = encoder.encode(text);
  lua.lua_pushlstring(L, bytes, bytes.length);
}

/** A Lua string's bytes decoded as UTF-8 (for names and messages only). */
export function bytesToText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Pushes a counter (u32/u64, seconds): a double, exact up to 2^53, like
 * every Lua number here (LuaJIT's number model, fengari_number_model.ts).
 */
export function pushCounter(L: LuaState, value: number): void {
  lua.lua_pushnumber(L, value);
}

/** Raises a Lua error whose message is text (no position prefix). */
export function raise(L: LuaState, text: string): never {
  pushText(L, text);
  lua.lua_error(L);
  throw new Error("unreachable: lua_error returned");
}

/** Raises `text` with the usual "file:line:" position of the calling Lua code. */
export function raiseWhere(L: LuaState, text: string): never {
  lauxlib.luaL_error(L, to_luastring("%s"), to_luastring(text));
  throw new Error("unreachable: luaL_error returned");
}

/** Upstream's arity check: more than max arguments raises `Too many parameters`. */
export function checkMaxArgs(L: LuaState, max: number): void {
  if (lua.lua_gettop(L) > max) raiseWhere(L, "Too many parameters");
}

/** Upstream's arity check: fewer than min arguments raises `Not enough parameters`. */
export function checkMinArgs(L: LuaState, min: number): void {
  if (lua.lua_gettop(L) < min) raiseWhere(L, "Not enough parameters");
}
