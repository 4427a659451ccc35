// Answers on one connection leave in request order even when some requests
// need asynchronous work (a user namespace): each job finishes only after its
// work settled and every earlier job finished. Pure.

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Job {
  outcome: Outcome<unknown> | null;
  finish: (outcome: Outcome<unknown>) => void;
  cancel: () => void;
}

export class OrderedQueue {
  #jobs: Job[] = [];
  #closed = false;

  /**
   * `onError` gets what a finish callback threw while settling in the
   * background, so one failing reply cannot stall the jobs behind it.
   */
  constructor(readonly onError: (error: unknown) => void = (e) => console.error(e)) {}

  /**
   * Queues a job. `work` is its result or a promise of it; `finish` gets the
   * outcome in order; `cancel` runs instead if the queue is cleared first.
   * With nothing queued and a plain value, finish runs at once.
   */
  add<T>(work: T | Promise<T>, finish: (outcome: Outcome<T>) => void, cancel: () => void): void {
    if (this.#closed) {
      cancel();
      return;
    }
    if (!(work instanceof Promise)) {
      if (this.#jobs.length === 0) {
        finish({ ok: true, value: work });
        return;
      }
      this.#jobs.push({
        outcome: { ok: true, value: work },
        finish: finish as Job["finish"],
        cancel,
      });
      return;
    }
    const job: Job = { outcome: null, finish: finish as Job["finish"], cancel };
    this.#jobs.push(job);
    work.then(
      (value) => this.#settle(job, { ok: true, value }),
      (error) => this.#settle(job, { ok: false, error }),
    );
  }

  get length(): number {
    return this.#jobs.length;
  }

  /** Cancels every queued job; later adds are cancelled at once. */
  close(): void {
    this.#closed = true;
    const jobs = this.#jobs;
    this.#jobs = [];
    for (const job of jobs) job.cancel();
  }

  #settle(job: Job, outcome: Outcome<unknown>): void {
    if (this.#closed) return;
    job.outcome = outcome;
    while (this.#jobs.length > 0 && this.#jobs[0].outcome !== null) {
      const head = this.#jobs.shift()!;
      try {
        head.finish(head.outcome!);
      } catch (e) {
        this.onError(e);
      }
    }
  }
}
