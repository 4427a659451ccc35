// LuaJIT number formatting (decision 8), pg's shortest round-trip format
// (§5.3) and LuaJIT bit semantics, as pure functions.
import { assertEquals } from "../assert.ts";
import {
  formatG,
  formatLuaJitNumber,
  formatShortestNumber,
} from "../../reaper/lua/number_format.ts";
import { bitToHex, toBit } from "../../reaper/lua/bit_ops.ts";

Deno.test("formatLuaJitNumber matches LuaJIT's %.14g", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [2, "2"],
    [2.5, "2.5"],
    [-2.5, "-2.5"],
    [3000000000, "3000000000"],
    [2 ** 53, "9.007199254741e+15"],
    [1e14, "1e+14"],
    [99999999999999, "99999999999999"],
    [1e15, "1e+15"],
    [1e-5, "1e-05"],
    [0.0001, "0.0001"],
    [0.1, "0.1"],
    [1 / 3, "0.33333333333333"],
    [2 / 3, "0.66666666666667"],
    [123456.789, "123456.789"],
    [1e300, "1e+300"],
    [-1.5e-300, "-1.5e-300"],
    [5e-324, "4.9406564584125e-324"],
    [NaN, "nan"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    // exact ties round away from zero like LuaJIT (not to even like glibc)
    [10000000000000.5, "10000000000001"],
    [10000000000001.5, "10000000000002"],
  ];
  for (const [x, want] of cases) assertEquals(formatLuaJitNumber(x), want, `${x}`);
});

Deno.test("formatG works for other precisions", () => {
  assertEquals(formatG(0.25, 1), "0.3"); // LuaJIT: ties away from zero
  assertEquals(formatG(0.35, 1), "0.3"); // 0.35 is below the tie in binary
  assertEquals(formatG(1234567, 6), "1.23457e+06");
  assertEquals(formatG(100, 3), "100");
  assertEquals(formatG(1000, 3), "1e+03");
});

Deno.test("formatShortestNumber follows §5.3", () => {
  const cases: [number, string][] = [
    [42, "42"],
    [2.5, "2.5"],
    [1e15, "1000000000000000"],
    [1e16, "1e+16"],
    [1e-5, "1e-05"],
    [0.0001, "0.0001"],
    [NaN, "nan"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    [-0, "-0"],
    [0.1, "0.1"],
    [1 / 3, "0.3333333333333333"],
    [123.456e20, "1.23456e+22"],
    [3000000000, "3000000000"],
  ];
  for (const [x, want] of cases) assertEquals(formatShortestNumber(x), want, `${x}`);
  for (const x of [1 / 3, 2 ** 60 + 4096, 1e-310, 123.456, -9.87654321e-7]) {
    assertEquals(Number(formatShortestNumber(x)), x, `round trip ${x}`);
  }
});

Deno.test("bit semantics: tobit wraps modulo 2^32 and rounds halves to even", () => {
  assertEquals(toBit(2 ** 32 + 5), 5);
  assertEquals(toBit(0xffffffff), -1);
  assertEquals(toBit(2.5), 2);
  assertEquals(toBit(3.5), 4);
  assertEquals(toBit(-2.5), -2);
  assertEquals(toBit(NaN), 0);
  assertEquals(bitToHex(255, 4), "00ff");
  assertEquals(bitToHex(255, -4), "00FF");
  assertEquals(bitToHex(-1, 8), "ffffffff");
  assertEquals(bitToHex(0x12345678, 12), "12345678");
});
