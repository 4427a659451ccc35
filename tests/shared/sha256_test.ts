// shared/sha256.ts against node:crypto (the oracle), including every length
// around the padding boundaries and multi-block inputs.
import { createHash } from "node:crypto";
import { assertEquals } from "../assert.ts";
import { sha256Hex } from "../../shared/sha256.ts";

const oracle = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

Deno.test("sha256: the FIPS 180-4 examples", () => {
  assertEquals(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assertEquals(
    sha256Hex(""),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assertEquals(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256: equals node:crypto for lengths 0..300 and random data", () => {
  for (let n = 0; n <= 300; n++) {
    const data = crypto.getRandomValues(new Uint8Array(n));
    assertEquals(sha256Hex(data), oracle(data), `length ${n}`);
  }
  const big = new Uint8Array(100_000).map((_, i) => i * 7);
  assertEquals(sha256Hex(big), oracle(big));
  assertEquals(sha256Hex("@a @b ü"), oracle(new TextEncoder().encode("@a @b ü")), "UTF-8");
});
