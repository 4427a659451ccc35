// Events the daemon need not wake up for: the end of an assigned init's exec
// of sleep (its init symlink may go, see prepared_init.ts) and the exit of a
// used user namespace helper (user_namespace.ts). Watching them in the event
// loop would wake the daemon once more per name, and a wakeup costs it about
// 0.1 ms of CPU on a VM; instead they sit in an epoll set of their own that is
// looked at whenever the daemon is awake anyway (after a reply that made a
// name) and otherwise on a timer, which runs in the event loop's regular
// turns. Handlers run synchronously, level-triggered, like the loop's.
import { EPOLL_EVENT_SIZE, epollWaitNow } from "../ffi/epoll.ts";
import { EpollSet } from "../ffi/epoll_set.ts";
import { logWarning } from "../shared/log.ts";

/** How soon pending events are looked at again without other activity. */
const CHECK_MS = 20;
const MAX_EVENTS = 64;

export class QuietWatch {
  readonly #set = new EpollSet<(closing: boolean) => void>();
  readonly #events = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #view = new DataView(this.#events.buffer);
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * Watches fd for `events`; the handler must remove() it once done. At
   * close() every handler runs once more with `closing` set.
   */
  add(fd: number, events: number, handler: (closing: boolean) => void): void {
    this.#set.add(fd, events, handler);
    this.#schedule();
  }

  /** Stops watching fd (call before closing it); unknown fds are ignored. */
  remove(fd: number): void {
    this.#set.remove(fd);
  }

  get size(): number {
    return this.#set.size;
  }

  /** Runs the handlers of what is ready. */
  check(): void {
    if (this.#set.size === 0) return;
    for (let n; (n = epollWaitNow(this.#set.fd, this.#events, 0)) > 0;) {
      for (let i = 0; i < n; i++) {
        const entry = this.#set.get(EpollSet.idAt(this.#view, i));
        if (!entry) continue;
        try {
          entry.handler(false);
        } catch (e) {
          logWarning(`quiet watch: handler for fd ${entry.fd} failed: ${e}`);
          this.remove(entry.fd);
        }
      }
      if (n < MAX_EVENTS) break;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#set.size === 0 || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.check();
    }, CHECK_MS);
  }

  /** Runs every remaining handler once (shutdown), then releases the epoll fd. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#set.registrations()) {
      try {
        entry.handler(true);
      } catch {
        // shutting down
      }
    }
    this.#set.close();
  }
}
