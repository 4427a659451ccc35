// string.format and tonumber as LuaJIT 2.1 has them (issue 10): the
// conversions are in printf_format.ts; here they meet the Lua stack.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import {
  formatBytes,
  formatChar,
  formatFloat,
  formatInteger,
  FormatSpecError,
  parseSpec,
  quoteBytes,
} from "./printf_format.ts";

class ByteSink {
  bytes = new Uint8Array(64);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }
  ascii(s: string): void {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.bytes[this.length++] = s.charCodeAt(i);
  }
  append(b: Uint8Array): void {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
}

function stringFormat(L: LuaState): number {
  const fmt: Uint8Array = lauxlib.luaL_checklstring(L, 1);
  const top = lua.lua_gettop(L);
  const out = new ByteSink();
  let arg = 1;
  for (let i = 0; i < fmt.length;) {
    const c = fmt[i];
    if (c !== 37) {
      out.byte(c);
      i++;
      continue;
    }
    if (fmt[i + 1] === 37) {
      out.byte(37);
      i += 2;
      continue;
    }
    let parsed;
    try {
      parsed = parseSpec(fmt, i + 1);
    } catch (e) {
      if (!(e instanceof FormatSpecError)) throw e;
      return lauxlib.luaL_error(L, to_luastring("%s"), to_luastring(e.message));
    }
    const { spec, next } = parsed;
    i = next;
    if (++arg > top) lauxlib.luaL_argerror(L, arg, to_luastring("no value"));
    switch (spec.conv) {
      case "d":
      case "i":
      case "o":
      case "u":
      case "x":
      case "X":
        out.ascii(formatInteger(lauxlib.luaL_checknumber(L, arg), spec));
        break;
      case "a":
      case "A":
      case "e":
      case "E":
      case "f":
      case "F":
      case "g":
      case "G":
        out.ascii(formatFloat(lauxlib.luaL_checknumber(L, arg), spec));
        break;
      case "c":
        out.append(formatChar(lauxlib.luaL_checkinteger(L, arg), spec));
        break;
      case "q":
        out.append(quoteBytes(lauxlib.luaL_checklstring(L, arg)));
        break;
      case "s": {
        const bytes: Uint8Array = lauxlib.luaL_tolstring(L, arg);
        lua.lua_pop(L, 1);
        out.append(formatBytes(bytes, spec));
        break;
      }
      case "p": {
        // LuaJIT prints the address of a GC object, NULL for other values.
        const t = lua.lua_type(L, arg);
        let text = "NULL";
        if (t >= lua.LUA_TTABLE || t === lua.LUA_TLIGHTUSERDATA) {
          const s = new TextDecoder().decode(lauxlib.luaL_tolstring(L, arg));
          lua.lua_pop(L, 1);
          text = s.slice(s.lastIndexOf(" ") + 1);
        }
        out.append(formatBytes(to_luastring(text), spec));
        break;
      }
    }
  }
  lua.lua_pushlstring(L, out.bytes.subarray(0, out.length), out.length);
  return 1;
}

const isSpace = (b: number) => b === 32 || (b >= 9 && b <= 13);
const isAlnum = (b: number) => (b >= 48 && b <= 57) || ((b | 32) >= 97 && (b | 32) <= 122);

/** strtoul() digits of s from i in base; null unless the rest is only spaces. */
function parseUnsigned(s: Uint8Array, i: number, base: number): number | null {
  if (base === 16 && s[i] === 48 && (s[i + 1] | 32) === 120) {
    const d = digitValue(s[i + 2]);
    if (d >= 0 && d < 16) i += 2;
  }
  let value = 0n;
  const big = BigInt(base);
  const start = i;
  for (; i < s.length; i++) {
    const d = digitValue(s[i]);
    if (d < 0 || d >= base) break;
    value = value * big + BigInt(d);
  }
  if (i === start) return null;
  while (i < s.length && isSpace(s[i])) i++;
  if (i < s.length && s[i] !== 0) return null;
  const max = 2n ** 64n - 1n; // strtoul clamps to ULONG_MAX
  return Number(value > max ? max : value);
}

function digitValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 48 && b <= 57) return b - 48;
  const l = b | 32;
  if (l >= 97 && l <= 122) return l - 87;
  return -1;
}

/** tonumber(v [, base]) as LuaJIT: base 10 reads any numeral, others go through strtoul. */
function tonumber(L: LuaState): number {
  const base = lauxlib.luaL_optinteger(L, 2, 10);
  if (base === 10) {
    lauxlib.luaL_checkany(L, 1);
    const t = lua.lua_type(L, 1);
    if (t === lua.LUA_TNUMBER) {
      lua.lua_pushnumber(L, lua.lua_tonumber(L, 1));
      return 1;
    }
    if (t !== lua.LUA_TSTRING) {
      lua.lua_pushnil(L);
      return 1;
    }
    // The whole string must be the numeral: a conversion that stopped at a
    // zero byte ("12\0") is nil, as in LuaJIT.
    const s: Uint8Array = lua.lua_tostring(L, 1);
    const size = lua.lua_stringtonumber(L, s);
    if (size !== s.length + 1) {
      if (size !== 0) lua.lua_pop(L, 1);
      lua.lua_pushnil(L);
    }
    return 1;
  }
  const s: Uint8Array = lauxlib.luaL_checklstring(L, 1);
  lauxlib.luaL_argcheck(L, base >= 2 && base <= 36, 2, to_luastring("base out of range"));
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === 45) {
    negative = true;
    i++;
  } else if (s[i] === 43) i++;
  const n = i < s.length && isAlnum(s[i]) ? parseUnsigned(s, i, base) : null;
  if (n === null) lua.lua_pushnil(L);
  else lua.lua_pushnumber(L, negative ? -n : n);
  return 1;
}

/** string.char: each argument truncated to an integer, which must be 0-255. */
function stringChar(L: LuaState): number {
  const n = lua.lua_gettop(L);
  const bytes = new Uint8Array(n);
  for (let i = 1; i <= n; i++) {
    const c = lauxlib.luaL_checkinteger(L, i);
    lauxlib.luaL_argcheck(L, c >= 0 && c <= 255, i, to_luastring("invalid value"));
    bytes[i - 1] = c;
  }
  lua.lua_pushlstring(L, bytes, n);
  return 1;
}

/**
 * string.find/string.match: LuaJIT clamps an init beyond the end to the end,
 * so ("hello"):find("", 10) is 6 where Lua 5.3 gives nil.
 */
function clampInit(original: (L: LuaState) => number) {
  return (L: LuaState): number => {
    if (lua.lua_type(L, 3) === lua.LUA_TNUMBER) {
      const len = lauxlib.luaL_checklstring(L, 1).length;
      if (lua.lua_tonumber(L, 3) > len + 1) {
        lua.lua_pushnumber(L, len + 1);
        lua.lua_replace(L, 3);
      }
    }
    return original(L);
  };
}

export function installLuaJitString(L: LuaState): void {
  lua.lua_getglobal(L, to_luastring("string"));
  for (const name of ["find", "match"]) {
    lua.lua_getfield(L, -1, to_luastring(name));
    const original = lua.lua_tocfunction(L, -1);
    lua.lua_pop(L, 1);
    lua.lua_pushcfunction(L, clampInit(original));
    lua.lua_setfield(L, -2, to_luastring(name));
  }
  lua.lua_pop(L, 1);
  lua.lua_getglobal(L, to_luastring("string"));
  lua.lua_pushcfunction(L, stringFormat);
  lua.lua_setfield(L, -2, to_luastring("format"));
  lua.lua_pushcfunction(L, stringChar);
  lua.lua_setfield(L, -2, to_luastring("char"));
  lua.lua_pop(L, 1);
  lua.lua_pushcfunction(L, tonumber);
  lua.lua_setglobal(L, to_luastring("tonumber"));
}
