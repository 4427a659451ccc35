// print writes to stdout, one complete line per call, synchronously, so every
// line reaches journald at once (§1.5). The line is built from the
// arguments' bytes (binary-safe, as LuaJIT's, which the differential tests
// compare); the daemon's writer then shows printable UTF-8 as it is and
// control characters and bytes that are not UTF-8 as \xHH (tabs kept), so a
// value a workload controls (a cgroup name, an xattr) cannot end the line,
// forge another one or steer a terminal (issue 14 items 8, 10).
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { escapeBytes } from "../printable.ts";

const encoder = new TextEncoder();

const TAB = 0x09;
const NEWLINE = 0x0a;
const TOSTRING = to_luastring("tostring");

/**
 * Writes all bytes to stdout synchronously (partial writes retried). A
 * stdout that is gone (EPIPE) loses the line silently, as LuaJIT's print
 * ignores fwrite's errors: the script goes on (to its database insert).
 */
export function writeStdout(bytes: Uint8Array): void {
  try {
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
}

/** One print line as log text: its final newline kept, tabs kept, the rest escaped. */
export function printableLine(line: Uint8Array): Uint8Array {
  const end = line.at(-1) === NEWLINE ? line.length - 1 : line.length;
  const pieces: string[] = [];
  let start = 0;
  for (let i = 0; i <= end; i++) {
    if (i === end || line[i] === TAB) {
      pieces.push(escapeBytes(line.subarray(start, i)));
      start = i + 1;
    }
  }
  return encoder.encode(pieces.join("\t") + (end < line.length ? "\n" : ""));
}

/** The daemon's print: escaped lines on stdout. */
export function writePrintableStdout(line: Uint8Array): void {
  writeStdout(printableLine(line));
}

export function installPrint(
  L: LuaState,
  writeOut: (bytes: Uint8Array) => void = writePrintableStdout,
): void {
  lua.lua_getglobal(L, TOSTRING);
  const builtinToString = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 1);
  // As LuaJIT's (and 5.1's): each value goes through the global `tostring`,
  // so a script that replaces it changes what print shows.
  const print = (P: LuaState): number => {
    const n = lua.lua_gettop(P);
    lua.lua_getglobal(P, TOSTRING);
    const builtin = lua.lua_tocfunction(P, -1) === builtinToString && builtinToString !== null;
    const parts: Uint8Array[] = [];
    let size = n === 0 ? 1 : n;
    for (let i = 1; i <= n; i++) {
      let s: Uint8Array | null;
      if (builtin) s = lauxlib.luaL_tolstring(P, i);
      else {
        lua.lua_pushvalue(P, n + 1);
        lua.lua_pushvalue(P, i);
        lua.lua_call(P, 1, 1);
        s = lua.lua_tolstring(P, -1);
        if (s === null) {
          return lauxlib.luaL_error(P, to_luastring("'tostring' must return a string to 'print'"));
        }
      }
      parts.push(s!);
      size += s!.length;
      lua.lua_pop(P, 1);
    }
    const line = new Uint8Array(size);
    let off = 0;
    parts.forEach((s, i) => {
      if (i > 0) line[off++] = TAB;
      line.set(s, off);
      off += s.length;
    });
    line[off] = NEWLINE;
    writeOut(line);
    return 0;
  };
  lua.lua_pushcfunction(L, print);
  lua.lua_setglobal(L, to_luastring("print"));
}
