// Expiry of names (accessory/namespace_registry.ts) against a clock the test
// drives: no namespaces are made, so no root is needed.
import { assert, assertEquals } from "../assert.ts";
import { NamespaceRegistry } from "../../accessory/namespace_registry.ts";
import type { NamespaceFactory } from "../../accessory/namespace_factory.ts";
import { waitFor } from "./harness.ts";

Deno.test("expiry: a check that fires a hair before the deadline waits for it, and the name then expires", async () => {
  // The clock moves on at every reading, as a real one does. The expiry
  // timer's check reads a time a hair before the name's deadline; every
  // reading after it is well past the deadline.
  const STEP = 0.001;
  let t = 1000;
  let phase: "before" | "check" | "after" = "before";
  let deadline = NaN;
  let readsAfter = 0;
  const clock = () => {
    if (phase === "check") {
      phase = "after";
      return deadline - STEP / 2;
    }
    if (phase === "after" && ++readsAfter > 10_000) {
      throw new Error("the expiry check keeps reading the clock: it does not end");
    }
    return (t += STEP);
  };
  const registry = new NamespaceRegistry({} as NamespaceFactory, 10, clock);
  const entry = registry.acquire("web");
  registry.release(entry);
  deadline = entry.lifetime.remaining(0); // nothing holds it: the deadline itself
  t = deadline + 100;
  phase = "check";
  assert(await waitFor(() => registry.size === 0, 2000), "the name did not expire");
  assert(entry.discarded);
  assertEquals(phase, "after");
});
