// At most one log line per interval for a kind of event, so that a flood of
// refused peers or connections cannot flood the journal. The next line
// tells how many were left out.
import { log, type Priority } from "../shared/log.ts";

export class RateLimitedLog {
  #last = -Infinity;
  #suppressed = 0;

  constructor(
    readonly priority: Priority,
    readonly intervalMs = 1000,
    readonly now: () => number = () => performance.now(),
    readonly sink: (priority: Priority, message: string) => void = log,
  ) {}

  /** Logs `message` unless one was logged less than the interval ago. */
  log(message: string): boolean {
    const now = this.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return false;
    }
    this.#last = now;
    const note = this.#suppressed > 0 ? ` (${this.#suppressed} similar lines suppressed)` : "";
    this.#suppressed = 0;
    this.sink(this.priority, message + note);
    return true;
  }
}
