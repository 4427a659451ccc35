// Byte strings and long relative paths (ffi/byte_string.ts, ffi/directory.ts).
import { assert, assertEquals } from "../assert.ts";
import { byteString, stringBytes, utf8ByteString } from "../../ffi/byte_string.ts";
import { PATH_CHUNK, pathChunks } from "../../ffi/directory.ts";

Deno.test("byte strings round-trip every byte; UTF-8 text becomes its bytes", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  assertEquals(stringBytes(byteString(all)), all);
  assertEquals(utf8ByteString("café"), "caf\xc3\xa9");
  assertEquals(byteString(new Uint8Array(100_000).fill(0x61)).length, 100_000);
});

Deno.test("pathChunks cuts a path longer than PATH_MAX at slashes into pieces openat accepts", () => {
  const enc = new TextEncoder();
  const short = enc.encode("a/b/c");
  assertEquals(pathChunks(short).map((c) => new TextDecoder().decode(c)), ["a/b/c"]);
  const long = enc.encode(Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(250, "x")).join("/"));
  const chunks = pathChunks(long);
  assert(chunks.length > 1);
  for (const c of chunks) assert(c.length <= PATH_CHUNK && c.length > 0, `${c.length}`);
  const joined = chunks.map((c) => new TextDecoder().decode(c)).join("/");
  assertEquals(joined, new TextDecoder().decode(long));
});
