// print writes to stdout, one complete line per call, synchronously, so every
// line reaches journald at once (§1.5). Printable UTF-8 is written as it is;
// control characters and bytes that are not UTF-8 are written as \xHH, so a
// value a workload controls (a cgroup name, an xattr) cannot end the line,
// forge another one or steer a terminal (issue 14 items 8, 10).
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { escapeBytes } from "../printable.ts";

const encoder = new TextEncoder();

const TAB = 0x09;
const NEWLINE = 0x0a;

/** Writes all bytes to stdout synchronously (partial writes retried). */
export function writeStdout(bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

export function installPrint(
  L: LuaState,
  writeOut: (bytes: Uint8Array) => void = writeStdout,
): void {
  const print = (P: LuaState): number => {
    const n = lua.lua_gettop(P);
    const parts: Uint8Array[] = [];
    let size = n === 0 ? 1 : n;
    for (let i = 1; i <= n; i++) {
      const s: Uint8Array = encoder.encode(escapeBytes(lauxlib.luaL_tolstring(P, i)));
      parts.push(s);
      size += s.length;
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
