// The reaper daemon without its command line: the tracker on the real
// cgroup2 hierarchy, driven by the one epoll event loop.
import { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { errorMessage, log as defaultLog, type Priority } from "../shared/log.ts";
import type { ReaperHook, ReleasedCgroup } from "./hook.ts";
import { CgroupTracker, type CgroupTrackerView, type TrackerCounters } from "./cgroup/tracker.ts";
import { statsLineFields } from "./status.ts";
import { KernelCgroupFs } from "./cgroup/kernel_fs.ts";

const DEFAULT_BATCH_MS = 20;
const EPOLLONESHOT = 1 << 30;

export interface DaemonOptions {
  /** Absolute path of the cgroup2 hierarchy. */
  root: string;
  /** Normalized scope paths relative to root. */
  scopes: readonly string[];
  hook: ReaperHook;
  log?: (priority: Priority, message: string) => void;
  /** Default: one info line on stderr (or the journal, with SPAWN_CGROUP etc.). */
  writeStatsLine?: (line: string, cgroup: ReleasedCgroup) => void;
  deletionDelayMs?: number;
  /** Pause after each batch of inotify events, so that the next batch is bigger. */
  batchMs?: number;
}

export class ReaperDaemon {
  readonly #options: DaemonOptions;
  readonly #log: (priority: Priority, message: string) => void;
  #fs: KernelCgroupFs | null = null;
  #tracker: CgroupTracker | null = null;
  #loop: EventLoop | null = null;
  #running: Promise<void> | null = null;
  #batchTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#log = options.log ?? defaultLog;
  }

  /**
   * Registers watches and scans the scopes (the start-up scan). Nothing is
   * reaped before run().
   */
  start(): void {
    if (this.#fs) throw new Error("reaper daemon already started");
    const fs = new KernelCgroupFs(this.#options.root);
    this.#fs = fs;
    const tracker = new CgroupTracker({
      fs,
      scopes: this.#options.scopes,
      hook: this.#options.hook,
      writeStatsLine: this.#options.writeStatsLine ??
        ((line, cgroup) =>
          this.#options.log
            ? this.#log("info", line)
            : defaultLog("info", line, statsLineFields(cgroup))),
      log: this.#log,
      deletionDelayMs: this.#options.deletionDelayMs,
    });
    this.#tracker = tracker;
    try {
      tracker.start();
    } catch (error) {
      tracker.close();
      fs.close();
      this.#fs = null;
      throw error;
    }
  }

  /**
   * Reaps what the start-up scan found empty, then serves events until
   * stop(). start() must have been called.
   */
  run(): Promise<void> {
    const fs = this.#fs;
    const tracker = this.#tracker;
    if (!fs || !tracker) throw new Error("reaper daemon not started");
    if (this.#running) return this.#running;
    const loop = new EventLoop();
    loop.onError = (error) => this.#log("error", `reaper: ${errorMessage(error)}`);
    this.#loop = loop;
    const rearm = () => {
      this.#batchTimer = null;
      try {
        if (loop.has(fs.inotifyFd)) loop.modify(fs.inotifyFd, EPOLLIN | EPOLLONESHOT);
      } catch (error) {
        this.#log("error", `reaper: re-arming inotify: ${errorMessage(error)}`);
      }
    };
    const onReadable = () => {
      try {
        tracker.handleEvents(fs.readEvents());
      } catch (error) {
        this.#log("error", `reaper: ${errorMessage(error)}`);
      }
      // One-shot: events gather briefly before the fd is re-armed, so under
      // load there is one batch per few ms instead of one thread hop per
      // event. They wait in the inotify queue (an overflow means a rescan).
      this.#batchTimer = setTimeout(rearm, this.#options.batchMs ?? DEFAULT_BATCH_MS);
    };
    loop.add(fs.inotifyFd, EPOLLIN | EPOLLONESHOT, onReadable);
    tracker.reapInitial();
    this.#running = loop.run();
    return this.#running;
  }

  get counters(): TrackerCounters | null {
    return this.#tracker?.counters ?? null;
  }

  get trackedCgroups(): number {
    return this.#tracker?.trackedCgroups ?? 0;
  }

  /** The event loop while running (the control socket joins it). */
  get loop(): EventLoop | null {
    return this.#loop;
  }

  get scopes(): readonly string[] {
    return this.#options.scopes;
  }

  get hook(): ReaperHook {
    return this.#options.hook;
  }

  /** Scopes, watched cgroups, pending deletions (read-only), or null before start(). */
  inspect(): CgroupTrackerView | null {
    return this.#tracker?.inspect() ?? null;
  }

  /** Watched cgroups and pending deletions, counted only. */
  summary(): { cgroups: number; awaitingDeletion: number } {
    return this.#tracker?.summary() ?? { cgroups: 0, awaitingDeletion: 0 };
  }

  /** Stops serving, drops pending deletions, releases every fd and watch. */
  async stop(): Promise<void> {
    const loop = this.#loop;
    this.#loop = null;
    if (this.#batchTimer !== null) clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    if (loop && this.#fs) loop.remove(this.#fs.inotifyFd);
    if (loop) await loop.close();
    await this.#running;
    this.#running = null;
    this.#tracker?.close();
    this.#tracker = null;
    this.#fs?.close();
    this.#fs = null;
  }
}
