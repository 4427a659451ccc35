// Pins the load-time patches of fengari (fengari_conf.ts,
// fengari_number_model.ts, fengari_integer_args.ts, pattern_budget.ts) to the
// fengari they were written for: each patch is checked where it acts, so a
// fengari upgrade that moves one fails here with its name, before the
// differential tests show a symptom.
import { assertEquals } from "../assert.ts";
import { newTestRuntime, runCases } from "./lua_test_helpers.ts";
import { lua } from "../../reaper/lua/fengari.ts";

Deno.test("fengari is the version the patches were written for", () => {
  const pkg = JSON.parse(
    Deno.readTextFileSync(new URL("../../node_modules/fengari/package.json", import.meta.url)),
  );
  assertEquals(pkg.version, "0.1.5", "review reaper/lua/fengari_*.ts before upgrading fengari");
});

Deno.test("each patch acts where fengari makes integers or 5.3 results", async () => {
  const { runtime, L } = await newTestRuntime();
  try {
    const failures = runCases(L, [
      // TValue.setivalue: arithmetic, OP_LEN, numerals
      {
        code: "return 2147483647 + 1, #'abc' * 2^31, 65536 * 65536",
        values: [2147483648, 6442450944, 4294967296],
      },
      // lua_pushinteger: library results are doubles
      {
        code: "return string.len('abcd') * 2^30, math.type(string.byte('a'))",
        values: [4294967296, "integer"],
      },
      // luaH_next: integral keys (also from table constructors) come back as doubles
      { code: "local t = {7} local k = next(t) return k * 2^31 + k * 2^31", values: [4294967296] },
      { code: "local t = {} t[-0] = 1 return 1 / next(t)", values: [Infinity] },
      // luaO_str2num: hex integers beyond 32 bits, 0b, inf, nan, -0
      {
        code: "return 0xffffffff, tonumber('0x100000000'), tonumber('0b11'), tonumber('inf')",
        values: [4294967295, 4294967296, 3, Infinity],
      },
      { code: "return 1 / tonumber('-0')", values: [-Infinity] },
      // luai_nummod (fengari_conf.ts): LuaJIT's a - floor(a/b)*b
      { code: "return 5 % math.huge ~= 5 % math.huge, -1 % 0 ~= -1 % 0", values: [true, true] },
      // Math.pow: C pow for base 1 and -1
      { code: "return 1 ^ (0/0), (-1) ^ math.huge", values: [1, 1] },
      // luaL_checkinteger: truncation like lj_lib_checkint
      { code: "return ('hello'):sub(2.9), select(2.5, 'a', 'b', 'c')", values: ["ello", "b", "c"] },
      // numeric for across 2^31 takes the float loop
      { code: "local n = 0 for i = 2147483646, 2147483649 do n = n + 1 end return n", values: [4] },
    ]);
    assertEquals(failures, []);
    // lua_pushinteger from JS pushes a double too
    lua.lua_pushinteger(L, 7);
    assertEquals(lua.lua_isinteger(L, -1), false);
    lua.lua_pop(L, 1);
  } finally {
    await runtime.close();
  }
});

Deno.test("pattern_budget finds fengari's MatchState and counts its steps", async () => {
  const { runtime, L } = await newTestRuntime(5000);
  try {
    // Outside the coroutine runner nothing is budgeted; the matcher still works.
    assertEquals(runCases(L, [{ code: "return ('aaa'):find('a-b')", values: [null] }]), []);
    let steps = 0;
    const { installPatternBudget } = await import("../../reaper/lua/pattern_budget.ts");
    installPatternBudget(L, (_T, n) => void (steps += n));
    runCases(L, [{ code: "return (string.rep('a', 60)):find('.-.-b')", values: [null] }]);
    assertEquals(steps > 1000, true, `${steps} steps counted`);
  } finally {
    await runtime.close();
  }
});
