// The init of a PID namespace is /usr/bin/sleep executed through a symlink
// whose basename is the wanted comm (init-NAME): the kernel takes comm from
// the executed file name, and a Deno process cannot rename another process.
// One symlink per distinct comm, reference-counted, in a private directory.
import { initProcessName } from "./init_name.ts";

export const SLEEP = "/usr/bin/sleep";

export class InitLinks {
  readonly #counts = new Map<string, number>();

  constructor(readonly directory: string, readonly target = SLEEP) {}

  /** Creates (or reuses) the symlink for NAME's init; returns its path. */
  acquire(name: string): string {
    const comm = initProcessName(name);
    const path = `${this.directory}/${comm}`;
    const count = this.#counts.get(comm) ?? 0;
    if (count === 0) {
      try {
        Deno.symlinkSync(this.target, path);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
    this.#counts.set(comm, count + 1);
    return path;
  }

  /** Drops one reference; the last one removes the symlink. */
  release(path: string): void {
    const comm = path.slice(this.directory.length + 1);
    const count = this.#counts.get(comm) ?? 0;
    if (count <= 1) {
      this.#counts.delete(comm);
      try {
        Deno.removeSync(path);
      } catch {
        // already gone: nothing to clean up
      }
    } else {
      this.#counts.set(comm, count - 1);
    }
  }

  get size(): number {
    return this.#counts.size;
  }
}
