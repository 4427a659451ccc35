// At most `burst` log lines per interval for a kind of event, so that a flood of
// refused peers or connections cannot flood the journal. The next line
// tells how many were left out.
import { log, type LogFields, type Priority } from "../shared/log.ts";

export class RateLimitedLog {
  #windowStart = -Infinity;
  #inWindow = 0;
  #suppressed = 0;

  constructor(
    readonly priority: Priority,
    readonly intervalMs = 1000,
    readonly burst = 1,
    readonly now: () => number = () => performance.now(),
    readonly sink: (priority: Priority, message: string, fields?: LogFields) => void = log,
  ) {}

  /** Logs `message` unless `burst` lines were logged in the current interval. */
  log(message: string, fields?: LogFields): boolean {
    const now = this.now();
    if (now - this.#windowStart >= this.intervalMs) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.burst) {
      this.#suppressed++;
      return false;
    }
    this.#inWindow++;
    const note = this.#suppressed > 0 ? ` (${this.#suppressed} similar lines suppressed)` : "";
    this.#suppressed = 0;
    this.sink(this.priority, message + note, fields);
    return true;
  }
}
