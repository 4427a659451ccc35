// LuaJIT compatibility through the real runtime: number printing, unpack,
// loadstring, table.maxn, bit, and counters above 2^31-1 (decision 8).
import { assertEquals } from "../assert.ts";
import { type Case, newTestRuntime, runCases } from "./lua_test_helpers.ts";

const CASES: Case[] = [
  // tostring / concatenation / format %s of numbers like LuaJIT
  {
    code: `return tostring(2.0), tostring(3e9), tostring(2.5), tostring(1e15), tostring(-0.0)`,
    values: ["2", "3000000000", "2.5", "1e+15", "-0"],
  },
  {
    code: `return "x" .. 2.0, string.format("%s", 3000000000.0), tostring(1/0), tostring(2^53)`,
    values: ["x2", "3000000000", "inf", "9.007199254741e+15"],
  },
  {
    code: `return tostring(7), tostring(1e100), tostring(0.1 + 0.2)`,
    values: ["7", "1e+100", "0.3"],
  },
  // every number is a double (issue 10): exact up to 2^53, no 32-bit wrap
  {
    code: `return 3000000000 + 1, math.type(3000000000), 2147483647 + 0, math.type(2^53 + 2)`,
    values: [3000000001, "integer", 2147483647, "float"],
  },
  // unpack, loadstring, table.maxn
  { code: `return unpack({1, 2, 3})`, values: [1, 2, 3] },
  { code: `return loadstring("return 1 + 1")()`, values: [2] },
  { code: `local f, err = loadstring("return +"); return f, type(err)`, values: [null, "string"] },
  {
    code:
      `return table.maxn({}), table.maxn({1, 2, 3}), table.maxn({[1] = 1, [10] = 2, x = 3}), table.maxn({[2.5] = 1})`,
    values: [0, 3, 10, 2.5],
  },
  // bit, LuaJIT semantics (signed 32-bit results)
  {
    code: `return bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)`,
    values: [3, 7, 6, -1],
  },
  {
    code: `return bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 28), bit.arshift(-256, 4)`,
    values: [-2147483648, 1, 15, -16],
  },
  {
    code:
      `return bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tohex(255), bit.tohex(-1), bit.tohex(255, -2)`,
    values: [-1, 5, "000000ff", "ffffffff", "FF"],
  },
  {
    code: `return bit.band(0xffffffff, 0x7fffffff), bit.bor(0x80000000, 0)`,
    values: [2147483647, -2147483648],
  },
  { code: `return bit.band("12", 4)`, values: [4] },
  { code: `return bit.band({})`, error: /bad argument #1 to 'band'/ },
  // Lua 5.1 math and table functions LuaJIT still has
  {
    code:
      `return math.pow(2, 10), math.log10(1000), math.atan2(1, 1) == math.pi / 4, math.ldexp(0.75, 4), table.getn({1, 2, 3}), math.frexp(12)`,
    values: [1024, 3, true, 12, 3, 0.75, 4],
  },
  {
    code: `return math.cosh(0), math.sinh(0), math.tanh(0), math.frexp(0)`,
    values: [1, 0, 0, 0, 0],
  },
  // no 32-bit wrap-around (issue 10), math.type "integer" for exact integral values
  {
    code: `return 2147483647 + 1, 2147483647 + 1.0, math.type(2.5), math.tointeger(3e9)`,
    values: [2147483648, 2147483648, "float", 3000000000],
  },
  // standard libraries present
  {
    code:
      `return type(string.format), type(table.concat), type(math.floor), type(os.time), type(coroutine.wrap), type(debug.traceback), type(io.write)`,
    values: ["function", "function", "function", "function", "function", "function", "function"],
  },
  // yielding across pcall works in a coroutine
  {
    code:
      `local co = coroutine.wrap(function() local ok, v = pcall(coroutine.yield, 1); return ok, v end); local a = co(); return a, co(5)`,
    values: [1, true, 5],
  },
];

Deno.test("LuaJIT compatibility shims and number formatting", async () => {
  const { L, runtime } = await newTestRuntime();
  try {
    assertEquals(runCases(L, CASES), []);
  } finally {
    await runtime.close();
  }
});

Deno.test("print writes one line per call, tab-separated, binary-safe", async () => {
  const { L, runtime, out } = await newTestRuntime();
  try {
    assertEquals(
      runCases(L, [{ code: `print(1, 2.0, "a\\0b", nil, true, 3e9); print()`, values: [] }]),
      [],
    );
    assertEquals(out, ["1\t2\ta\0b\tnil\ttrue\t3000000000\n", "\n"]);
  } finally {
    await runtime.close();
  }
});
