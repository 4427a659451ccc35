// The seam between the reaper core (watching, accounting, deleting) and the
// admin's script runtime: the core calls the hook after writing the stats
// line and before queueing the deletion.

/** Accounting values read from the cgroup's files before deletion (spec §2). */
export interface CgroupStats {
  /** cpu.stat usage_usec / user_usec / system_usec in seconds, null if unknown. */
  cpuTotal: number | null;
  cpuUser: number | null;
  cpuSystem: number | null;
  /** memory.peak in bytes (u64; may exceed 2^31), null if unknown. */
  memoryPeak: number | null;
  /** memory.events high / max / oom. */
  memoryEventsHigh: number | null;
  memoryEventsMax: number | null;
  memoryEventsOom: number | null;
  /** pids.peak, pids.forks, pids.events max. */
  pidsPeak: number | null;
  pidsForks: number | null;
  pidsEventsMax: number | null;
}

export interface ReleasedCgroup {
  /**
   * Path relative to the cgroup2 root with a leading "/", no trailing "/",
   * as a byte string (ffi/byte_string.ts: one char per byte, exact even
   * when the kernel's names are not UTF-8); printable() shows it in logs.
   */
  path: string;
  /**
   * An O_RDONLY|O_DIRECTORY fd of the cgroup directory, or null if it could
   * not be opened. Owned by the core: it stays open until the deletion of
   * this cgroup has been attempted (about 50 ms later), then it is closed.
   */
  dirFd: number | null;
  /** Creation time in seconds since the epoch (with fraction), null if unknown. */
  btime: number | null;
  /** When the snapshot was taken, seconds since the epoch (with fraction). */
  takenAt: number;
  stats: CgroupStats;
}

/** What the control socket and STATUS= show of the script runtime. */
export interface HookStatus {
  /** Handlers, reloads and listen callbacks running or waiting inside a JS call. */
  running: number;
  /** Handlers parked in a plain coroutine.yield(). */
  parked: number;
  /** Script errors logged since start. */
  errors: number;
  lastError: string | null;
}

export interface ReaperHook {
  /**
   * Called once per reaped cgroup. Starts the handler synchronously; the
   * promise settles when the handler has finished (true) or raised (false).
   * The daemon does not wait for it; --simulate does.
   */
  cgroupReleased(cgroup: ReleasedCgroup): Promise<boolean>;
  /** SIGHUP. */
  reload(): void;
  /** Shutdown: cancel suspended handlers and release resources. */
  close(): Promise<void>;
  /** Absent: no script runtime (NO_HOOK). */
  status?(): HookStatus;
}

/** The hook used when no script is loaded: log and delete only. */
export const NO_HOOK: ReaperHook = {
  cgroupReleased: () => Promise.resolve(true),
  reload: () => {},
  close: () => Promise.resolve(),
};
