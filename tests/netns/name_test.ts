import { assert, assertEquals, assertMatch } from "../assert.ts";
import { nameProblem, peerName } from "../../netns/name.ts";

Deno.test("names that leave room for _peer in 15 bytes are accepted", () => {
  for (const name of ["a", "web", "abcdefghij", "bp-1", "x_y.z"]) {
    assertEquals(nameProblem(name), undefined, name);
    assert(new TextEncoder().encode(peerName(name)).length <= 15);
  }
});

Deno.test("a name too long for NAME_peer is rejected, counting bytes not characters", () => {
  assertMatch(nameProblem("abcdefghijk")!, /'abcdefghijk' is 11 bytes; at most 10/);
  assertMatch(nameProblem("ääääää")!, /is 12 bytes/);
});

Deno.test("names with '/', ':', whitespace, control characters or a leading '-' are rejected", () => {
  for (const name of ["a/b", "a:b", "a b", "a\tb", "a\nb", "-x", ".", "..", "", "a\x01"]) {
    assert(nameProblem(name) !== undefined, JSON.stringify(name));
  }
});
