// Closes the fds clients send, off the JS thread. A client has no business
// sending fds, and the listeners refuse them where the kernel can
// (SO_PASSRIGHTS, Linux 6.16). Elsewhere they arrive, and closing the last
// reference may block: a TCP socket lingering with unsent data (SO_LINGER)
// blocks close() for its linger time, a file on FUSE until the file system's
// owner answers the flush. So they are closed on worker threads, a few at a
// time: hung closes must not take every thread Deno has (the event loop's
// epoll_wait needs one).
import { closeOffThread } from "../ffi/fd.ts";

/** Closes running at once; the rest wait in order. */
export const MAX_CONCURRENT_CLOSES = 4;

export class FdCloser {
  readonly #queue: { fd: number; done: () => void }[] = [];
  #running = 0;

  constructor(
    readonly concurrency = MAX_CONCURRENT_CLOSES,
    readonly close: (fd: number) => Promise<unknown> = closeOffThread,
  ) {}

  /** Queues the fds; the promise settles once all of them are closed. */
  closeAll(fds: readonly number[]): Promise<void> {
    const closed = fds.map((fd) => {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#queue.push({ fd, done: resolve });
      return promise;
    });
    this.#next();
    return Promise.all(closed).then(() => {});
  }

  /** fds queued or being closed. */
  get pending(): number {
    return this.#queue.length + this.#running;
  }

  #next(): void {
    while (this.#running < this.concurrency && this.#queue.length > 0) {
      const { fd, done } = this.#queue.shift()!;
      this.#running++;
      this.close(fd).catch(() => {}).finally(() => {
        this.#running--;
        done();
        this.#next();
      });
    }
  }
}
