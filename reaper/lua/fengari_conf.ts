// Configures fengari before its VM modules load. Must be evaluated before
// anything imports "fengari": fengari.ts imports this module first, and every
// other file imports fengari through fengari.ts, never directly.
//
// lobject.js copies `lua_number2str` and `LUA_COMPAT_FLOATSTRING` out of
// luaconf.js when it loads, so patching luaconf's exports first makes every
// number-to-string conversion (tostring, print, `..`, string.format "%s")
// format like LuaJIT: `%.14g`, no ".0" on integral floats (decision 8).
// fengaricore.js is imported first because defs.js and luaconf.js require
// each other and only load cleanly in that order.
import * as fengaricore from "fengari/src/fengaricore.js";
import luaconf from "fengari/src/luaconf.js";
import llimits from "fengari/src/llimits.js";
import { formatLuaJitNumber } from "./number_format.ts";

// fengari's package.json says "sideEffects": false, so a bundler (deno bundle)
// drops a bare `import "fengari/src/fengaricore.js"` and luaconf.js loads
// first, half-initialised; a statement that uses the binding keeps the order.
if (!fengaricore) throw new Error("fengari/src/fengaricore.js did not load");

const conf = luaconf as Record<string, unknown>;
conf.LUA_COMPAT_FLOATSTRING = true;
conf.lua_number2str = (n: number) => formatLuaJitNumber(n);
// LuaJIT's modulo, a - floor(a/b)*b (lvm.js and lobject.js copy it at load):
// 5 % math.huge is nan and 5.3 % -2 is -0.7000000000000002, as in LuaJIT,
// where Lua 5.3's fmod-based one gives 5 and -0.7.
(llimits as Record<string, unknown>).luai_nummod = (_L: unknown, a: number, b: number) =>
  a - Math.floor(a / b) * b;
// Keep script paths in error messages whole ("file:line:"), up to 255 bytes.
conf.LUA_IDSIZE = 255;
