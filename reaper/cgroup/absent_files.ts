// Which optional accounting files the children of a cgroup lack, so that
// reaps do not probe them with a failing openat each time (five per reap on
// a kernel without memory and pids controllers in cgroup2). A controller's
// files exist in a cgroup iff its parent's cgroup.subtree_control enables
// the controller (and the kernel has the file at all), so the knowledge is
// kept per parent and forgotten when that parent's subtree_control changes.
// Pure: the caller supplies the reader and confirms the child still exists.
import type { FileReader } from "./stats.ts";

/** Controller files; core files (cpu.stat) are always read. */
const OPTIONAL = new Set([
  "memory.peak",
  "memory.events",
  "pids.peak",
  "pids.forks",
  "pids.events",
]);

/** Parents remembered at most (the tracker forgets deleted ones; this bounds the rest). */
const MAX_PARENTS = 4096;

export class AbsentFiles {
  readonly #byParent = new Map<string, ReadonlySet<string>>();

  /**
   * A reader for a child of `parent` that answers "missing" for files known
   * absent there without reading, and appends the optional files it found
   * missing to `missed`, for learn() once the child is known to still exist
   * (a child removed while it was read misses every file).
   */
  reader(parent: string, read: FileReader, missed: string[]): FileReader {
    const absent = this.#byParent.get(parent);
    return (name, limit) => {
      if (absent?.has(name)) return { kind: "missing" };
      const result = read(name, limit);
      if (result.kind === "missing" && OPTIONAL.has(name)) missed.push(name);
      return result;
    };
  }

  /** Records files missing in an existing child of `parent`. */
  learn(parent: string, missed: readonly string[]): void {
    if (missed.length === 0) return;
    const known = this.#byParent.get(parent);
    if (!known && this.#byParent.size >= MAX_PARENTS) this.#byParent.clear();
    this.#byParent.set(parent, new Set([...(known ?? []), ...missed]));
  }

  /** The controllers enabled below `parent` may have changed (null: anywhere). */
  forget(parent: string | null): void {
    if (parent === null) this.#byParent.clear();
    else this.#byParent.delete(parent);
  }

  /** Files known absent in children of `parent` (tests, diagnostics). */
  absentBelow(parent: string): string[] {
    return [...(this.#byParent.get(parent) ?? [])].sort();
  }
}
