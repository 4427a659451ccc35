// Pure: the heap behind the registry's single expiry timer.
import { assertEquals } from "../assert.ts";
import { MinHeap } from "../../accessory/min_heap.ts";

Deno.test("a min-heap pops in ascending order, duplicates included, and clears", () => {
  const heap = new MinHeap<number>((a, b) => a - b);
  const values = Array.from({ length: 500 }, (_, i) => (i * 7919) % 211);
  for (const v of values) heap.push(v);
  assertEquals(heap.size, values.length);
  assertEquals(heap.peek(), 0);
  const popped: number[] = [];
  for (let v; (v = heap.pop()) !== undefined;) popped.push(v);
  assertEquals(popped, [...values].sort((a, b) => a - b));
  assertEquals(heap.pop(), undefined);
  heap.push(3);
  heap.clear();
  assertEquals([heap.size, heap.peek()], [0, undefined]);
});
