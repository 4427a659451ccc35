import { assertEquals } from "../assert.ts";
import { LineSplitter, prefixFor, prefixLines } from "../../packaging/line_splitter.ts";

Deno.test("lines split across chunks come out whole, the last one on flush", () => {
  const splitter = new LineSplitter();
  assertEquals(splitter.push("listen"), []);
  assertEquals(splitter.push("ing\nwatch"), ["listening"]);
  assertEquals(splitter.push("ing\n\nend"), ["watching", ""]);
  assertEquals(splitter.flush(), ["end"]);
  assertEquals(splitter.flush(), []);
});

Deno.test("prefixes name the daemon, in colour only when asked", () => {
  assertEquals(prefixLines(prefixFor("reaper", undefined), ["a", "b"]), "[reaper] a\n[reaper] b\n");
  assertEquals(prefixFor("accessory", 36), "\x1b[36m[accessory]\x1b[0m");
});
