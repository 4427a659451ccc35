// The heap trimmer: when it trims (pure), and that a trim really gives freed
// C heap back to the kernel (a subprocess's anonymous memory drops).
import { assert, assertEquals } from "../assert.ts";
import { TrimSchedule } from "../../shared/heap_trimmer.ts";

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
const MALLOC = new URL("../../ffi/malloc.ts", import.meta.url).href;

Deno.test("TrimSchedule: trims once after start-up once the counter stands still", () => {
  const s = new TrimSchedule(0);
  assertEquals([s.tick(0), s.tick(0), s.tick(0)], [true, false, false]);
});

Deno.test("TrimSchedule: not while the counter moves, once after it stops", () => {
  const s = new TrimSchedule(0);
  assertEquals(s.tick(5), false);
  assertEquals(s.tick(9), false);
  assertEquals(s.tick(9), true);
  assertEquals(s.tick(9), false);
  assertEquals([s.tick(10), s.tick(10), s.tick(10)], [false, true, false]);
});

Deno.test("trimMallocHeap returns freed C heap to the kernel", async () => {
  // 8,000 ArrayBuffers of 4,000 bytes live in glibc's heap (Deno's allocator);
  // every 64th is kept, so freeing the rest leaves holes that free() alone
  // does not give back.
  const script = `
    import { trimMallocHeap } from ${JSON.stringify(MALLOC)};
    const anon = () => Number(Deno.readTextFileSync("/proc/self/smaps_rollup")
      .match(/^Anonymous:\\s+(\\d+)/m)[1]);
    let freed = [];
    const kept = [];
    for (let i = 0; i < 8000; i++) {
      const b = new Uint8Array(4000).fill(1);
      (i % 64 === 0 ? kept : freed).push(b);
    }
    freed = null;
    // V8 frees the backing stores in a task after the collection.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = anon();
    const returned = trimMallocHeap();
    console.log(JSON.stringify({ before, after: anon(), returned, kept: kept.length }));
  `;
  const out = await new Deno.Command(DENO, {
    args: ["eval", "--no-check", "--v8-flags=--expose-gc,--single-threaded", script],
    env: { MALLOC_ARENA_MAX: "2" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(r.returned, true);
  // About 31 MB were freed; demand half of it back.
  assert(r.before - r.after > 16_000, `anonymous KiB before ${r.before}, after ${r.after}`);
});
