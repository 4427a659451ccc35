// When a NAME's namespaces may be discarded (spec "Expiry"). Pure: the clock
// is passed in. A hold is a lease or a request still being answered; while
// any is held the name stays; afterwards it lives `ttl` after the last
// request or release.

export class Lifetime {
  #holds = 0;
  #deadline: number;
  #lastRequest: number;

  constructor(readonly ttl: number, now: number) {
    this.#deadline = now + ttl;
    this.#lastRequest = now;
  }

  /** A request for the name: restarts the countdown. */
  touch(now: number): void {
    this.#deadline = now + this.ttl;
    this.#lastRequest = now;
  }

  /** When the last request came (or the name was made), for the control socket. */
  get lastRequest(): number {
    return this.#lastRequest;
  }

  hold(): void {
    this.#holds++;
  }

  /** Ends a hold; the countdown restarts when the last one ends. */
  release(now: number): void {
    if (this.#holds === 0) throw new Error("Lifetime.release without hold");
    if (--this.#holds === 0) this.#deadline = now + this.ttl;
  }

  get holds(): number {
    return this.#holds;
  }

  /** Milliseconds until expiry (<= 0: expired); Infinity while held. */
  remaining(now: number): number {
    return this.#holds > 0 ? Infinity : this.#deadline - now;
  }

  expired(now: number): boolean {
    return this.remaining(now) <= 0;
  }
}
