// Inits that took their NAME exec sleep right after (see prepared_init.ts):
// end of file on their ack pipe says the exec is done and their init symlink
// may go. Watching each pipe in the event loop would wake the daemon once
// more per name (a wakeup costs it ~0.1 ms of CPU on a VM); instead the
// pipes are read whenever the daemon is awake anyway (after a reply that
// made a name) and otherwise on a timer, which runs in the event loop's
// regular turns.
import { closeQuietly, read } from "../ffi/fd.ts";

/** How soon a pending exec is looked at again without other activity. */
const CHECK_MS = 20;

const chunk = new Uint8Array(16);

export class ExecWatch {
  #pending: { fd: number; done: () => void }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Takes over `fd` (a nonblocking read end); `done` runs once at its end of file. */
  add(fd: number, done: () => void): void {
    this.#pending.push({ fd, done });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.check();
    }, CHECK_MS);
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Ends what is done; checks again later if something is not. */
  check(): void {
    if (this.#pending.length === 0) return;
    const still: { fd: number; done: () => void }[] = [];
    for (const entry of this.#pending) {
      let n: number | null;
      try {
        n = read(entry.fd, chunk);
      } catch {
        n = 0;
      }
      if (n === null) still.push(entry); // EAGAIN: still being executed
      else if (n > 0) still.push(entry); // nothing more is written; read on to the end
      else this.#finish(entry);
    }
    this.#pending = still;
    if (still.length > 0) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.check();
      }, CHECK_MS);
    }
  }

  /** Closes every pipe and runs what waits (shutdown). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#pending.splice(0)) this.#finish(entry);
  }

  #finish(entry: { fd: number; done: () => void }): void {
    closeQuietly(entry.fd);
    entry.done();
  }
}
