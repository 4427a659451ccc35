// The C heap under the runtime. Deno's Rust side (module loading, parsing a
// bundle, tokio threads) frees what it used at start-up into glibc's malloc
// arenas, which keep it as resident anonymous memory: several MB for a
// bundle loaded without a code cache. malloc_trim(3) returns free pages of
// every arena to the kernel (madvise), not only the top of the main heap.
import { libc } from "./libc.ts";

/** malloc_trim(0): true if memory was returned to the kernel. */
export function trimMallocHeap(): boolean {
  return libc.malloc_trim(0n) === 1;
}
