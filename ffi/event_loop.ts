import { EPOLL_EVENT_SIZE, epollAdd, EPOLLIN, epollWaitBlocking, epollWaitNow } from "./epoll.ts";
import { EpollSet } from "./epoll_set.ts";
import { close, eventfd, read, write } from "./fd.ts";

export type FdHandler = (events: number) => void;

const MAX_EVENTS = 256;
/**
 * Longest stretch without a turn for JS tasks (timers, signal listeners,
 * promises of other ops): taken while idle if possible, else after a dispatch.
 */
const TURN_MS = 20;
/**
 * The same while someone holds the turns (holdTurns()): a turn taken while a
 * reply waits for another process's answer would delay that reply.
 */
const HELD_TURN_MS = 100;
/** Without events this long, the loop stops sleeping on the JS thread (waits on the worker). */
const IDLE_MS = 1000;
/** Awaits before a synchronous sleep: longer promise chains than this wait for the next turn. */
const MICROTASK_ROUNDS = 32;
/** Shortest spin worth doing (below it the budget drops to 0). */
const MIN_SPIN_MS = 0.004;

/**
 * One epoll fd served on the JS thread. At most one blocking epoll_wait runs
 * on a worker thread at a time; ready events are then drained with
 * synchronous epoll_wait(0) calls until none is left, so a busy loop makes
 * one thread hop per idle period, not one per message. With spinMs > 0 the
 * loop keeps polling synchronously that long after the last event before it
 * hops: a request/response peer's next message usually arrives within tens of
 * microseconds, and waking a sleeping thread costs more than that. The spin
 * adapts (see #spinResult): it stops where it does not pay. With
 * waitMilliseconds > 0 it then blocks in epoll_wait on the JS thread itself
 * (for up to that long at a time, and at most until JS tasks are due a turn,
 * see TURN_MS) instead of hopping: sleeping costs no CPU, and the wakeup is a
 * single thread's. Only after IDLE_MS without events does the worker thread
 * wait. Handlers run synchronously and must not block. An eventfd wakes the
 * wait for stop().
 */
export class EventLoop {
  readonly #set = new EpollSet<FdHandler>();
  readonly #epfd = this.#set.fd;
  readonly #wakeFd = eventfd();
  readonly #asyncEvents = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #syncEvents = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #asyncView = new DataView(this.#asyncEvents.buffer);
  readonly #syncView = new DataView(this.#syncEvents.buffer);
  #stopping = false;
  #running: Promise<void> | null = null;
  #closed = false;
  onError: (error: unknown, fd: number) => void = (error, fd) => {
    console.error(`event loop: handler for fd ${fd} failed:`, error);
  };

  readonly #spinMs: number;
  #spinBudgetMs: number;
  /** A handler resolved a promise someone waits for: run the callbacks right after the dispatch. */
  #settleNow = false;
  /** holdTurns() not yet released. */
  #holds = 0;
  readonly #waitMs: number;
  readonly #heldTurnMs: number;

  constructor(
    options: {
      spinMicroseconds?: number;
      waitMilliseconds?: number;
      /** Longest wait for a turn while turns are held (tests: longer than they run). */
      heldTurnMilliseconds?: number;
    } = {},
  ) {
    this.#spinMs = (options.spinMicroseconds ?? 0) / 1000;
    this.#spinBudgetMs = this.#spinMs;
    this.#waitMs = Math.floor(options.waitMilliseconds ?? 0);
    this.#heldTurnMs = options.heldTurnMilliseconds ?? HELD_TURN_MS;
    epollAdd(this.#epfd, this.#wakeFd, EPOLLIN, 0n);
  }

  add(fd: number, events: number, handler: FdHandler): void {
    this.#set.add(fd, events, handler);
  }

  modify(fd: number, events: number): void {
    this.#set.modify(fd, events);
  }

  /** Gives a registered fd another handler (no system call). */
  replace(fd: number, handler: FdHandler): void {
    this.#set.replace(fd, handler);
  }

  /**
   * Unregisters fd without telling the kernel: only right before closing an
   * fd that has no duplicates (closing it removes it from the epoll set).
   */
  forget(fd: number): void {
    this.#set.forget(fd);
  }

  /** Unregisters fd (call before closing it). Unknown fds are ignored. */
  remove(fd: number): void {
    this.#set.remove(fd);
  }

  has(fd: number): boolean {
    return this.#set.has(fd);
  }

  get size(): number {
    return this.#set.size;
  }

  /**
   * Called by a handler that resolved a promise a reply waits for: its
   * callbacks run right after this dispatch, before the loop polls or spins
   * (otherwise they run before the loop next sleeps).
   */
  settleSoon(): void {
    this.#settleNow = true;
  }

  /**
   * Says a reply waits for an event (another process's answer), until
   * releaseTurns(): meanwhile a turn for JS tasks that falls due waits, up
   * to HELD_TURN_MS after the last one. A turn is a thread hop plus whatever
   * timers and tasks are due: taken while the loop waited for that answer, it
   * held the reply back by 0.3-0.7 ms (traced: 2.8 % of new names at 200/s).
   */
  holdTurns(): void {
    this.#holds++;
  }

  /** Ends one holdTurns(). */
  releaseTurns(): void {
    if (this.#holds > 0) this.#holds--;
  }

  /** holdTurns() not yet released (for tests). */
  get turnsHeld(): number {
    return this.#holds;
  }

  /** Milliseconds from one turn to the next, as things stand. */
  get #turnInterval(): number {
    return this.#holds > 0 ? this.#heldTurnMs : TURN_MS;
  }

  /** Starts serving (idempotent); the promise settles after stop(). */
  run(): Promise<void> {
    if (this.#closed) throw new Error("event loop is closed");
    this.#running ??= this.#serve();
    return this.#running;
  }

  /** Ends run() after the current dispatch; pending waits are woken. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#stopping = true;
    write(this.#wakeFd, new Uint8Array(new BigUint64Array([1n]).buffer));
    await this.#running;
    this.#running = null;
  }

  /** stop() and release the epoll and wake fds. Registered fds stay open. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#closed) return;
    this.#closed = true;
    this.#set.close();
    close(this.#wakeFd);
  }

  async #serve(): Promise<void> {
    this.#stopping = false;
    // When JS tasks last had a turn (timers, signal listeners, other ops'
    // promises), and when the last event came.
    let turn = performance.now();
    let lastEvent = turn;
    while (!this.#stopping) {
      let n = epollWaitNow(this.#epfd, this.#syncEvents, 0);
      if (n === 0 && this.#spinBudgetMs > 0) {
        for (const until = performance.now() + this.#spinBudgetMs; n === 0;) {
          n = epollWaitNow(this.#epfd, this.#syncEvents, 0);
          if (performance.now() >= until) break;
        }
        this.#spinResult(n > 0);
      }
      if (n === 0 && performance.now() - turn >= this.#turnInterval) {
        // A turn is due, and nothing is ready: take it now, while idle,
        // rather than in the middle of a request (a zero-timeout wait on the
        // worker thread; setTimeout(0) would cost ~1 ms).
        n = await epollWaitBlocking(this.#epfd, this.#asyncEvents, 0);
        turn = performance.now();
        if (n > 0) {
          lastEvent = turn;
          this.#dispatch(this.#asyncEvents, n);
          continue;
        }
      }
      // Then sleep in the kernel on this thread until the next turn is due:
      // no CPU spent, and an event wakes this thread directly (no worker
      // thread, no promise). After IDLE_MS without events the worker waits.
      if (n === 0 && this.#waitMs > 0 && performance.now() - lastEvent < IDLE_MS) {
        // Promise callbacks of what was dispatched (a reply waiting for a
        // namespace is a chain of them) must run before this thread blocks:
        // each await lets one more link of a chain run.
        for (let i = 0; i < MICROTASK_ROUNDS; i++) await undefined;
        n = epollWaitNow(this.#epfd, this.#syncEvents, 0);
        if (n === 0) {
          const timeout = Math.min(
            this.#waitMs,
            Math.ceil(this.#turnInterval - (performance.now() - turn)),
          );
          const sleptFrom = performance.now();
          n = epollWaitNow(this.#epfd, this.#syncEvents, Math.max(1, timeout));
          if (n > 0) this.#idleResult(performance.now() - sleptFrom);
          else continue; // a turn is due
        }
      }
      if (n > 0) {
        const now = performance.now();
        lastEvent = now;
        this.#dispatch(this.#syncEvents, n);
        // What a handler resolved for someone waiting (a reply waiting for
        // its namespaces is a chain of promises) runs now, not after the next
        // poll or spin. Only on request: each round allocates.
        if (this.#settleNow) {
          this.#settleNow = false;
          for (let i = 0; i < MICROTASK_ROUNDS; i++) await undefined;
        }
        // Busy without a pause, the JS thread must still give JS tasks a turn.
        if (now - turn > this.#turnInterval) {
          n = await epollWaitBlocking(this.#epfd, this.#asyncEvents, 0);
          turn = performance.now();
          this.#dispatch(this.#asyncEvents, n);
        }
        continue;
      }
      const idleFrom = performance.now();
      n = await epollWaitBlocking(this.#epfd, this.#asyncEvents, -1);
      turn = lastEvent = performance.now();
      this.#idleResult(turn - idleFrom);
      this.#dispatch(this.#asyncEvents, n);
    }
  }

  // Adaptive spinning: spin only while it pays. A spin that found an event
  // doubles the budget (up to spinMicroseconds); one that found none halves
  // it; below a few microseconds it stops. A blocking wait that ended within
  // the largest budget means spinning would have caught that event: the
  // budget grows again. So a request/response peer gets the spin, and a
  // paced or idle daemon burns no CPU on it.
  #spinResult(hit: boolean): void {
    if (hit) this.#spinBudgetMs = Math.min(this.#spinMs, this.#spinBudgetMs * 2);
    else if ((this.#spinBudgetMs /= 2) < MIN_SPIN_MS) this.#spinBudgetMs = 0;
  }

  #idleResult(idleMs: number): void {
    if (this.#spinMs > 0 && idleMs < this.#spinMs) {
      this.#spinBudgetMs = Math.min(
        this.#spinMs,
        Math.max(MIN_SPIN_MS * 2, this.#spinBudgetMs * 2),
      );
    }
  }

  /** The current spin budget in microseconds (for tests and benchmarks). */
  get spinBudgetMicroseconds(): number {
    return this.#spinBudgetMs * 1000;
  }

  #dispatch(buf: Uint8Array<ArrayBuffer>, n: number): void {
    const view = buf === this.#syncEvents ? this.#syncView : this.#asyncView;
    for (let i = 0; i < n; i++) {
      const events = view.getUint32(i * EPOLL_EVENT_SIZE, true);
      const id = EpollSet.idAt(view, i);
      if (id === 0n) {
        read(this.#wakeFd, new Uint8Array(8));
        continue;
      }
      const registration = this.#set.get(id);
      if (!registration) continue;
      try {
        registration.handler(events);
      } catch (error) {
        this.onError(error, registration.fd);
      }
    }
  }
}
