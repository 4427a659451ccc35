import fc from "fast-check";
import { assertEquals, assertThrows } from "../assert.ts";
import { ArrayCodecError, decodeArray, encodeArray } from "../../reaper/pg/array_codec.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const encode = (xs: string[]) => dec.decode(encodeArray(xs.map((x) => enc.encode(x))));
const decode = (s: string) => decodeArray(enc.encode(s)).map((b) => dec.decode(b));

Deno.test('encodeArray: every element quoted, only \\ and " escaped (spec 11-13)', () => {
  assertEquals(encode([]), "{}");
  assertEquals(encode(["a", "b"]), '{"a","b"}');
  assertEquals(encode([""]), '{""}');
  assertEquals(encode(['x"y', "a\\b"]), String.raw`{"x\"y","a\\b"}`);
  assertEquals(encode(["a,b", "{c}", " d ", "NULL"]), '{"a,b","{c}"," d ","NULL"}');
});

Deno.test("decodeArray: empty forms, quoted, unquoted kept verbatim (spec 16-18)", () => {
  assertEquals(decode(""), []);
  assertEquals(decode("{}"), []);
  assertEquals(decode("{a,b,c}"), ["a", "b", "c"]);
  assertEquals(decode(String.raw`{"a,b","c\"d","e\\f"}`), ["a,b", 'c"d', "e\\f"]);
  assertEquals(decode('{NULL,"NULL"}'), ["NULL", "NULL"]);
  assertEquals(decode("{ a , b }"), [" a ", " b "]);
  assertEquals(decode("{a,}"), ["a", ""]);
  assertEquals(decode("{,}"), ["", ""]);
  assertEquals(decode('{"a",}'), ["a", ""]);
  // Quirks kept from upstream (§8.9).
  assertEquals(decode("{a}x,y}"), ["a}x", "y"]);
  assertEquals(decode("{ }"), [" "]);
});

Deno.test("decodeArray: malformed input raises the intended texts (spec 19)", () => {
  const cases: [string, string][] = [
    ["a,b", "'{' expected"],
    ["{", "missing '}'"],
    ["{a", "missing '}'"],
    ['{"a', "missing closing double quote"],
    ['{"a\\', "backslash at end of string"],
    ['{"a"b}', "'}' or ',' expected"],
    ["{a}x", "garbage after '}'"],
    ["{{1,2},{3,4}}", "unexpected '{'"],
    ["{} ", "garbage after '}'"],
    ['{"a"', "'}' expected"],
  ];
  for (const [input, text] of cases) {
    const e = assertThrows(() => decode(input), text);
    assertEquals(e instanceof ArrayCodecError, true, input);
  }
});

Deno.test("decodeArray(encodeArray(L)) == L for any byte strings (spec 20)", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 10 }), (list) => {
      const back = decodeArray(encodeArray(list));
      assertEquals(back.map((b) => Array.from(b)), list.map((b) => Array.from(b)));
    }),
    { numRuns: 500 },
  );
});
