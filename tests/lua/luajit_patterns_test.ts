// Which patterns take Lua 5.1's gsub/gmatch loop (those that can match the
// empty string) and how 5.1 replacement strings are rewritten for 5.3's gsub.
import { assertEquals } from "../assert.ts";
import { canMatchEmpty, replacementFor53 } from "../../reaper/lua/luajit_patterns.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

Deno.test("canMatchEmpty: every item optional", () => {
  const empty = [
    "",
    "%w*",
    "x-",
    "a?",
    "^",
    "$",
    "^%s*(.-)%s*$",
    "()",
    "%f[%a]",
    "[^,]*",
    "(a*)%1",
  ];
  const nonEmpty = ["a", "%a+", "%w*x", "%b()", "[%]]", ".", "^a", "a$", "%%", "[a-z]+"];
  for (const p of empty) assertEquals(canMatchEmpty(bytes(p)), true, p);
  for (const p of nonEmpty) assertEquals(canMatchEmpty(bytes(p)), false, p);
  assertEquals(canMatchEmpty(bytes("[a")), true, "malformed: the 5.1 loop reports it");
});

Deno.test("replacementFor53 rewrites only what 5.3 reads differently", () => {
  assertEquals(text(replacementFor53(bytes("plain"))), null);
  assertEquals(text(replacementFor53(bytes("%1-%0 %%"))), null);
  assertEquals(text(replacementFor53(bytes("%-x%."))), "-x.");
  assertEquals(text(replacementFor53(bytes("a%1%z%%"))), "a%1z%%");
  assertEquals(text(replacementFor53(bytes("end%"))), "end\0");
});
