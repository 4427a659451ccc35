// string.gsub and string.gmatch with Lua 5.1's rules, as LuaJIT has them
// (issue 10). Lua 5.3 changed two things scripts notice:
//   - after a match, 5.3 does not accept an empty match at the same place:
//     ("abc"):gsub("%w*", "-") is "--" 2 in LuaJIT, "-" 1 in 5.3;
//   - in a replacement string, 5.1 reads "%" before a non-digit as that
//     character ("%-" is "-"), where 5.3 raises "invalid use of '%'".
// The first matters only for patterns that can match the empty string
// (canMatchEmpty): the others go to fengari's own gsub/gmatch, with the
// replacement string rewritten to 5.3's escapes. Patterns that can match
// empty run 5.1's loop here, on fengari's matcher reached through its
// string.find (find(s, p, init) finds the first match at or after init,
// which is what 5.1's loop of match attempts does); both are counted by
// pattern_budget.ts.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";

type JsFunction = (L: LuaState) => number;

/** Growable byte buffer for the result. */
class Bytes {
  buf = new Uint8Array(64);
  length = 0;
  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + bytes.length));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  byte(b: number): void {
    this.push(Uint8Array.of(b));
  }
}

/**
 * Calls find(s at sIdx, p at pIdx, init); returns [start, end, first capture
 * index, capture count] with the results left on the stack above `top`, or
 * null (stack restored) when there is no match.
 */
function findAt(
  L: LuaState,
  find: JsFunction,
  sIdx: number,
  pIdx: number,
  init: number,
): { st: number; e: number; ncap: number; top: number } | null {
  const top = lua.lua_gettop(L);
  lua.lua_pushcfunction(L, find);
  lua.lua_pushvalue(L, sIdx);
  lua.lua_pushvalue(L, pIdx);
  lua.lua_pushnumber(L, init);
  lua.lua_call(L, 3, lua.LUA_MULTRET);
  if (lua.lua_isnil(L, top + 1)) {
    lua.lua_settop(L, top);
    return null;
  }
  return {
    st: lua.lua_tonumber(L, top + 1),
    e: lua.lua_tonumber(L, top + 2),
    ncap: lua.lua_gettop(L) - top - 2,
    top,
  };
}

/** Pushes capture i (0-based) of a match, or the whole match when there are no captures. */
function pushCapture(
  L: LuaState,
  s: Uint8Array,
  m: { st: number; e: number; ncap: number; top: number },
  i: number,
): void {
  if (m.ncap === 0 && i === 0) {
    lua.lua_pushlstring(L, s.subarray(m.st - 1, m.e), m.e - m.st + 1);
  } else if (i >= m.ncap) {
    lauxlib.luaL_error(L, to_luastring("invalid capture index"));
  } else {
    lua.lua_pushvalue(L, m.top + 3 + i);
  }
}

/** 5.1's add_s: %0-%9 are captures, "%" before anything else is that character. */
function addString(
  L: LuaState,
  out: Bytes,
  repl: Uint8Array,
  s: Uint8Array,
  m: { st: number; e: number; ncap: number; top: number },
): void {
  for (let i = 0; i < repl.length; i++) {
    const c = repl[i];
    if (c !== 37) {
      out.byte(c);
      continue;
    }
    const d = i + 1 < repl.length ? repl[++i] : (i++, 0); // a final "%" adds a NUL, as in 5.1
    if (d < 48 || d > 57) out.byte(d);
    else if (d === 48) out.push(s.subarray(m.st - 1, m.e));
    else {
      pushCapture(L, s, m, d - 49);
      out.push(lua.lua_tolstring(L, -1));
      lua.lua_pop(L, 1);
    }
  }
}

/** The end of the character class starting at p[i] ('[', '%x' or one character). */
function classEnd(p: Uint8Array, i: number): number {
  if (p[i] === 37) return i + 2;
  if (p[i] !== 91) return i + 1;
  i++;
  if (p[i] === 94) i++;
  do {
    if (i >= p.length) return -1; // malformed: let the matcher report it
    if (p[i++] === 37) i++;
  } while (p[i] !== 93);
  return i + 1;
}

/**
 * Whether every item of pattern p can match nothing (x*, x-, x?, %f, (),
 * back-references, anchors): only then can a match be empty. Malformed
 * patterns answer true (the 5.1 loop lets the matcher raise the error).
 */
export function canMatchEmpty(p: Uint8Array): boolean {
  let i = p[0] === 94 ? 1 : 0;
  while (i < p.length) {
    const c = p[i];
    if (c === 40 || c === 41) { // ( ) and position captures
      i++;
      continue;
    }
    if (c === 36 && i === p.length - 1) return true; // final $
    if (c === 37) {
      const d = p[i + 1];
      if (d === 98) return false; // %bxy: two characters at least
      if (d === 102) { // %f[set]
        const end = classEnd(p, i + 2);
        if (end < 0) return true;
        i = end;
        continue;
      }
      if (d !== undefined && d >= 48 && d <= 57) { // back-reference: may be empty
        i += 2;
        continue;
      }
    }
    const end = classEnd(p, i);
    if (end < 0 || end > p.length) return true;
    const q = p[end];
    if (q === 42 || q === 45 || q === 63) { // * - ?
      i = end + 1;
      continue;
    }
    return false;
  }
  return true;
}

/**
 * A 5.1 replacement string in 5.3's escapes: "%" before a non-digit is that
 * character, a final "%" a NUL byte; null when nothing needs rewriting.
 */
export function replacementFor53(repl: Uint8Array): Uint8Array | null {
  let i = repl.indexOf(37);
  if (i < 0) return null;
  // Most replacements ("%1", "%0!", "%%") mean the same in 5.3.
  let same = true;
  for (let j = i; j < repl.length && same; j++) {
    if (repl[j] !== 37) continue;
    const d = repl[++j];
    same = d === 37 || (d >= 48 && d <= 57);
  }
  if (same) return null;
  const out: number[] = Array.from(repl.subarray(0, i));
  for (; i < repl.length; i++) {
    const c = repl[i];
    if (c !== 37) {
      out.push(c);
      continue;
    }
    const d = repl[++i];
    if (d === undefined) out.push(0);
    else if (d === 37 || (d >= 48 && d <= 57)) out.push(37, d);
    else out.push(d);
  }
  return Uint8Array.from(out);
}

function makeGsub(find: JsFunction, gsub53: JsFunction): JsFunction {
  return (L: LuaState): number => {
    const s: Uint8Array = lauxlib.luaL_checklstring(L, 1);
    const p: Uint8Array = lauxlib.luaL_checklstring(L, 2);
    const tr = lua.lua_type(L, 3);
    if (!canMatchEmpty(p)) {
      if (tr === lua.LUA_TSTRING || tr === lua.LUA_TNUMBER) {
        const rewritten = replacementFor53(lua.lua_tolstring(L, 3));
        if (rewritten !== null) {
          lua.lua_pushlstring(L, rewritten, rewritten.length);
          lua.lua_replace(L, 3);
        }
      }
      return gsub53(L);
    }
    lauxlib.luaL_argcheck(
      L,
      tr === lua.LUA_TNUMBER || tr === lua.LUA_TSTRING || tr === lua.LUA_TFUNCTION ||
        tr === lua.LUA_TTABLE,
      3,
      to_luastring("string/function/table expected"),
    );
    const max = lauxlib.luaL_optinteger(L, 4, s.length + 1);
    const repl: Uint8Array | null = tr === lua.LUA_TNUMBER || tr === lua.LUA_TSTRING
      ? lua.lua_tolstring(L, 3)
      : null;
    lua.lua_settop(L, 3);
    const anchor = p[0] === 94;
    const out = new Bytes();
    let pos = 1;
    let n = 0;
    while (n < max) {
      const m = findAt(L, find, 1, 2, pos);
      if (m === null) break;
      out.push(s.subarray(pos - 1, m.st - 1));
      n++;
      if (repl !== null) {
        addString(L, out, repl, s, m);
      } else {
        if (tr === lua.LUA_TFUNCTION) {
          lua.lua_pushvalue(L, 3);
          const count = Math.max(1, m.ncap);
          for (let i = 0; i < count; i++) pushCapture(L, s, m, i);
          lua.lua_call(L, count, 1);
        } else {
          pushCapture(L, s, m, 0);
          lua.lua_gettable(L, 3);
        }
        if (!lua.lua_toboolean(L, -1)) {
          out.push(s.subarray(m.st - 1, m.e));
        } else if (lua.lua_isstring(L, -1)) {
          out.push(lua.lua_tolstring(L, -1));
        } else {
          lauxlib.luaL_error(
            L,
            to_luastring("invalid replacement value (a %s)"),
            lauxlib.luaL_typename(L, -1),
          );
        }
      }
      lua.lua_settop(L, m.top);
      if (m.e >= m.st) pos = m.e + 1;
      else if (m.st <= s.length) { // an empty match: copy one character and go on
        out.byte(s[m.st - 1]);
        pos = m.st + 1;
      } else {
        pos = m.st;
        break;
      }
      if (anchor) break;
    }
    if (pos <= s.length) out.push(s.subarray(pos - 1));
    lua.lua_pushlstring(L, out.buf.subarray(0, out.length), out.length);
    lua.lua_pushnumber(L, n);
    return 2;
  };
}

function makeGmatch(find: JsFunction, gmatch53: JsFunction): JsFunction {
  return (L: LuaState): number => {
    const s: Uint8Array = lauxlib.luaL_checklstring(L, 1);
    const p: Uint8Array = lauxlib.luaL_checklstring(L, 2);
    if (!canMatchEmpty(p)) return gmatch53(L); // 5.3 treats '^' as a character there too
    lua.lua_settop(L, 2);
    if (p[0] === 94) { // no anchor in gmatch: '^' is an ordinary character
      const escaped = new Uint8Array(p.length + 1);
      escaped[0] = 37;
      escaped.set(p, 1);
      lua.lua_pushlstring(L, escaped, escaped.length);
      lua.lua_replace(L, 2);
    }
    let pos = 1;
    const iterate = (C: LuaState): number => {
      if (pos > s.length + 1) return 0;
      const m = findAt(C, find, lua.lua_upvalueindex(1), lua.lua_upvalueindex(2), pos);
      if (m === null) {
        pos = s.length + 2;
        return 0;
      }
      pos = m.e >= m.st ? m.e + 1 : m.st + 1;
      const count = Math.max(1, m.ncap);
      for (let i = 0; i < count; i++) pushCapture(C, s, m, i);
      return count;
    };
    lua.lua_pushcclosure(L, iterate, 2);
    return 1;
  };
}

/** Replaces string.gsub and string.gmatch (call before string.find is wrapped). */
export function installLuaJitPatterns(L: LuaState): void {
  lua.lua_getglobal(L, to_luastring("string"));
  lua.lua_getfield(L, -1, to_luastring("find"));
  const find = lua.lua_tocfunction(L, -1);
  lua.lua_getfield(L, -2, to_luastring("gsub"));
  const gsub53 = lua.lua_tocfunction(L, -1);
  lua.lua_getfield(L, -3, to_luastring("gmatch"));
  const gmatch53 = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 3);
  lua.lua_pushcfunction(L, makeGsub(find, gsub53));
  lua.lua_setfield(L, -2, to_luastring("gsub"));
  lua.lua_pushcfunction(L, makeGmatch(find, gmatch53));
  lua.lua_setfield(L, -2, to_luastring("gmatch"));
  lua.lua_pop(L, 1);
}
