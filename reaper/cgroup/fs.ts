// What the tracker needs from the cgroup file system. The kernel version is
// kernel_fs.ts; tests drive the tracker with a fake.
//
// Paths and names are byte strings (ffi/byte_string.ts): the kernel's bytes,
// exact even when they are not UTF-8. Methods return null (or "gone") for a
// cgroup that no longer exists and throw for anything else (EMFILE, ENOSPC,
// ENOMEM, EACCES...): the tracker then keeps what it cannot know about and
// tries again later.
import type { ReleasedCgroup } from "../hook.ts";

/** One inotify event as the tracker sees it (see ffi/inotify.ts). */
export interface WatchEvent {
  wd: number;
  mask: number;
  /** A byte string. */
  name: string;
}

export interface CgroupSnapshot {
  cgroup: ReleasedCgroup;
  /** One log line each: a file that could not be read or was malformed. */
  problems: string[];
  /**
   * false: the directory or an accounting file could not be read for a
   * reason other than its absence, so the accounting is unknown.
   */
  complete: boolean;
  /** Subdirectories the kernel counts (link count - 2), null if unknown. */
  subdirectories: number | null;
}

/** cgroup.events "populated": "unknown" when it could not be read. */
export type Populated = "yes" | "no" | "gone" | "unknown";

/** Paths are relative to the cgroup2 root with a leading "/" ("/" = the root). */
export interface CgroupFs {
  /**
   * Watches a directory: subdirectories appearing and going, and IN_MODIFY
   * named "cgroup.events" when that file changes (once openEvents() was
   * called for it). The wd, or null if the directory is gone.
   */
  watchDirectory(path: string): number | null;
  /** Removes a watch (one already gone is fine). */
  unwatch(wd: number): void;
  /**
   * Opens cgroup.events for populated() and so that its changes are
   * reported to the directory watch; a handle, or null if it is gone.
   */
  openEvents(path: string): number | null;
  closeEvents(handle: number): void;
  /** cgroup.events "populated" read through the handle (-1: none, "unknown"). */
  populated(handle: number): Populated;
  /**
   * Optional hint before several children of `path` are read in one batch,
   * so that their reads get cheaper (kernel_fs.ts: one read of the parent's
   * cpu.stat brings all their CPU counters up to date at once).
   */
  prepareChildren?(path: string): void;
  /**
   * Whether processes ever ran in it (decision 10): CPU time charged, or
   * forks; null when that cannot be read (kept, asked again later).
   */
  showsUse(path: string): boolean | null;
  /** Names of its subdirectories; [] if it is gone. */
  subdirectories(path: string): string[];
  /**
   * Opens the directory (failure tolerated) and reads btime and the
   * accounting files. afterShowsUse: showsUse(path) just answered true and
   * only populated() was read since, so what it read may be reused.
   */
  snapshot(path: string, afterShowsUse?: boolean): CgroupSnapshot;
  /**
   * Optional: the directory's cgroup.subtree_control changed, so the
   * controller files of its children may have come or gone (null: anywhere,
   * e.g. after lost events).
   */
  controlsChanged?(path: string | null): void;
  /** rmdir; 0 or -errno. */
  rmdir(path: string): number;
  closeFd(fd: number): void;
  /** strerror text of an errno, for log lines. */
  describeErrno(errno: number): string;
  /**
   * Optional: the root directory was removed (or unmounted). Opens it again
   * if it exists now (true), false while it does not.
   */
  reopenRoot?(): boolean;
  /** Optional: the root path now names another directory than the one in use. */
  rootReplaced?(): boolean;
  /**
   * Optional: watches the root's parent directory, whose events for
   * rootName tell when the root is removed or made again (the root's own
   * IN_DELETE_SELF waits for every fd on it to close). The wd, or null.
   */
  watchRootParent?(): { wd: number; rootName: string } | null;
}
