// A lease: the daemon keeps the read end of a pipe in the event loop and hands
// out the write end. When every copy of the write end is closed (the client
// closed it or died) the read end reports EOF/HUP and the lease ends.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, O_NONBLOCK, pipe, read } from "../ffi/fd.ts";

const scratch = new Uint8Array(256);

export class Lease {
  #open = true;
  readonly readEnd: number;
  /** Sent to the client, then closed by the daemon. */
  readonly writeEnd: number;

  constructor(readonly loop: EventLoop, readonly onEnd: () => void) {
    [this.readEnd, this.writeEnd] = pipe(O_NONBLOCK);
    try {
      loop.add(this.readEnd, EPOLLIN, () => this.#readable());
    } catch (e) {
      closeQuietly(this.readEnd);
      closeQuietly(this.writeEnd);
      throw e;
    }
  }

  get open(): boolean {
    return this.#open;
  }

  #readable(): void {
    // Whatever a client writes into its lease is ignored; only EOF counts.
    for (;;) {
      const n = read(this.readEnd, scratch);
      if (n === null) return;
      if (n === 0) break;
    }
    this.close();
    this.onEnd();
  }

  /** Stops watching without calling onEnd (shutdown). */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.loop.remove(this.readEnd);
    closeQuietly(this.readEnd);
  }
}
