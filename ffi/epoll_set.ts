// An epoll fd and a handler for each fd in it. Registration ids (not fds)
// travel in epoll data, so an event for an fd that was removed, closed and
// reused within one batch of events finds no handler and is dropped. Id 0 is
// never given out: the owner may use it for an fd of its own.
import { EPOLL_EVENT_SIZE, epollAdd, epollCreate, epollModify, epollRemove } from "./epoll.ts";
import { close } from "./fd.ts";

export interface Registration<H> {
  fd: number;
  handler: H;
}

export class EpollSet<H> {
  readonly fd = epollCreate();
  readonly #registrations = new Map<bigint, Registration<H>>();
  readonly #idByFd = new Map<number, bigint>();
  #nextId = 1n;

  add(fd: number, events: number, handler: H): void {
    if (this.#idByFd.has(fd)) throw new Error(`fd ${fd} is already registered`);
    const id = this.#nextId++;
    epollAdd(this.fd, fd, events, id);
    this.#registrations.set(id, { fd, handler });
    this.#idByFd.set(fd, id);
  }

  modify(fd: number, events: number): void {
    epollModify(this.fd, fd, events, this.#id(fd));
  }

  /** Gives a registered fd another handler (no system call). */
  replace(fd: number, handler: H): void {
    this.#registrations.set(this.#id(fd), { fd, handler });
  }

  /**
   * Unregisters fd without telling the kernel: only right before closing an
   * fd that has no duplicates (closing it removes it from the epoll set).
   * False if it was not registered.
   */
  forget(fd: number): boolean {
    const id = this.#idByFd.get(fd);
    if (id === undefined) return false;
    this.#idByFd.delete(fd);
    this.#registrations.delete(id);
    return true;
  }

  /** Unregisters fd (call before closing it). Unknown fds are ignored. */
  remove(fd: number): void {
    if (this.forget(fd)) epollRemove(this.fd, fd);
  }

  has(fd: number): boolean {
    return this.#idByFd.has(fd);
  }

  get size(): number {
    return this.#idByFd.size;
  }

  /** The registration id that event `i` of an epoll_wait buffer carries. */
  static idAt(events: DataView, i: number): bigint {
    return events.getBigUint64(i * EPOLL_EVENT_SIZE + 4, true);
  }

  /** Who an event with `id` is for; undefined once removed. */
  get(id: bigint): Registration<H> | undefined {
    return this.#registrations.get(id);
  }

  registrations(): Registration<H>[] {
    return [...this.#registrations.values()];
  }

  close(): void {
    close(this.fd);
  }

  #id(fd: number): bigint {
    const id = this.#idByFd.get(fd);
    if (id === undefined) throw new Error(`fd ${fd} is not registered`);
    return id;
  }
}
