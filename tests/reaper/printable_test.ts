// Log text of kernel and workload bytes (issue 14 items 8, 10): printable
// UTF-8 kept, every other byte escaped; Lua print escapes the same way.
import { assertEquals } from "../assert.ts";
import { escapeBytes, printable } from "../../reaper/printable.ts";
import { newTestRuntime, runCases } from "../lua/lua_test_helpers.ts";
import { printableLine } from "../../reaper/lua/print.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("escapeBytes keeps printable UTF-8 and escapes the rest", () => {
  assertEquals(escapeBytes(new TextEncoder().encode("café/日本 a\\x2d")), "café/日本 a\\x2d");
  assertEquals(escapeBytes(bytes(0x63, 0x61, 0x66, 0xe9)), "caf\\xe9", "latin-1 é is not UTF-8");
  assertEquals(escapeBytes(bytes(0xff, 0xfe)), "\\xff\\xfe");
  assertEquals(
    escapeBytes(bytes(0x0a, 0x0d, 0x1b, 0x09, 0x7f, 0x00)),
    "\\x0a\\x0d\\x1b\\x09\\x7f\\x00",
  );
  assertEquals(escapeBytes(bytes(0xc2, 0x9b)), "\\xc2\\x9b", "C1 CSI");
  assertEquals(escapeBytes(bytes(0xe2, 0x80, 0xae)), "\\xe2\\x80\\xae", "bidi override");
  assertEquals(escapeBytes(bytes(0xc0, 0xaf)), "\\xc0\\xaf", "overlong");
  assertEquals(escapeBytes(bytes(0xed, 0xa0, 0x80)), "\\xed\\xa0\\x80", "surrogate");
  assertEquals(escapeBytes(bytes(0xe6, 0x97)), "\\xe6\\x97", "truncated");
});

Deno.test("printable shows byte strings (cgroup paths)", () => {
  assertEquals(printable("/s/job"), "/s/job");
  assertEquals(printable("/s/caf\xe9"), "/s/caf\\xe9");
  assertEquals(printable("/s/caf\xc3\xa9"), "/s/café");
  assertEquals(printable("/s/a\rb\x1b[2J"), "/s/a\\x0db\\x1b[2J");
});

Deno.test("Lua print cannot forge a line: the daemon's writer escapes control characters", async () => {
  const { L, runtime, out } = await newTestRuntime();
  try {
    const code =
      `print("released x account=" .. "alice\\nreleased y account=bob cpu=999", "\\27[31m")`;
    assertEquals(runCases(L, [{ code, values: [] }]), []);
    // print builds the line from the bytes (as LuaJIT) ...
    assertEquals(out, ["released x account=alice\nreleased y account=bob cpu=999\t\x1b[31m\n"]);
    // ... and the daemon's writer shows it as one line of log text
    const line = printableLine(Uint8Array.from(out[0], (c) => c.charCodeAt(0)));
    assertEquals(
      new TextDecoder().decode(line),
      "released x account=alice\\x0areleased y account=bob cpu=999\t\\x1b[31m\n",
    );
  } finally {
    await runtime.close();
  }
});
