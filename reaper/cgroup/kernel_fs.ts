// CgroupFs on the real cgroup2 hierarchy: one inotify fd for every watch,
// small reads through openat/read/close, rmdir with errno.
import {
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_MODIFY,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_ONLYDIR,
  inotifyAddWatch,
  inotifyInit,
  inotifyRemoveWatch,
  parseInotifyEvents,
} from "../../ffi/inotify.ts";
import { closeQuietly, O_PATH, O_RDONLY, openatAllowing, pread, read } from "../../ffi/fd.ts";
import { AT_FDCWD, rmdir, statxLinkCount } from "../../ffi/fs.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { strerror, SysError } from "../../ffi/sys_error.ts";
import type { CgroupFs, CgroupSnapshot, WatchEvent } from "./fs.ts";
import { parsePopulated, showsUse, SINGLE_VALUE_LIMIT } from "./stats.ts";
import { MULTI_LINE_LIMIT } from "./stats.ts";
import { readSmallFile } from "./files.ts";
import { cgroupDirectory, hasBirthTime, snapshotCgroup } from "./snapshot.ts";
import { AbsentFiles } from "./absent_files.ts";
import { logWarning } from "../../shared/log.ts";
import type { FileReader } from "./stats.ts";

// IN_MODIFY: kernfs reports a change of cgroup.events to the directory's
// watch (name "cgroup.events") as long as the file's inode is cached, which
// the fd held by openEvents() guarantees.
const DIRECTORY_MASK = IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO |
  IN_MODIFY | IN_ONLYDIR;
const GONE: readonly number[] = [Errno.ENOENT, Errno.ENOTDIR, Errno.ENODEV];

export class KernelCgroupFs implements CgroupFs {
  readonly inotifyFd: number;
  readonly #buffer = new Uint8Array(256 * 1024);
  readonly #eventsBuffer = new Uint8Array(MULTI_LINE_LIMIT);
  readonly #decoder = new TextDecoder();
  readonly #absent = new AbsentFiles();
  /** No statx for btime per cgroup on a file system without it (probed once). */
  readonly #btime: boolean;
  /** cpu.stat text of the last showsUse() that answered true. */
  #evidence: { path: string; cpuStat: string } | null = null;

  constructor(readonly root: string) {
    this.#btime = hasBirthTime(root);
    this.inotifyFd = inotifyInit();
  }

  #abs(path: string): string {
    return cgroupDirectory(this.root, path);
  }

  /** Drains the inotify fd; [] when nothing is queued. */
  readEvents(): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (;;) {
      const n = read(this.inotifyFd, this.#buffer);
      if (n === null || n === 0) return events;
      for (const e of parseInotifyEvents(this.#buffer, n)) events.push(e);
    }
  }

  #watch(path: string, mask: number): number | null {
    try {
      return inotifyAddWatch(this.inotifyFd, path, mask);
    } catch (error) {
      if (error instanceof SysError && GONE.includes(error.errno)) return null;
      throw error;
    }
  }

  watchDirectory(path: string): number | null {
    return this.#watch(this.#abs(path), DIRECTORY_MASK);
  }

  openEvents(path: string): number | null {
    const fd = openatAllowing(AT_FDCWD, this.#abs(path) + "/cgroup.events", O_RDONLY, GONE);
    return fd < 0 ? null : fd;
  }

  closeEvents(handle: number): void {
    closeQuietly(handle);
  }

  unwatch(wd: number): void {
    inotifyRemoveWatch(this.inotifyFd, wd);
  }

  populated(handle: number): boolean | null {
    let n: number;
    try {
      n = pread(handle, this.#eventsBuffer, 0); // kernfs regenerates the text at offset 0
    } catch (error) {
      if (error instanceof SysError && error.errno === Errno.ENODEV) return null; // removed
      return false; // spec §3.1: a read error counts as unpopulated
    }
    return parsePopulated(this.#decoder.decode(this.#eventsBuffer.subarray(0, n)));
  }

  // A cpu.stat read flushes the kernel's per-CPU counters (rstat) of the
  // cgroup's subtree, and first unlinks the cgroup from its parent's list of
  // updated children, a singly linked list walked from the head: reading N
  // siblings that all ran costs O(N^2) (a burst of exits). Reading the
  // parent's cpu.stat first empties that list in one O(N) pass.
  prepareChildren(path: string): void {
    readSmallFile(AT_FDCWD, this.#abs(path) + "/cpu.stat", MULTI_LINE_LIMIT);
  }

  showsUse(path: string): boolean {
    const dir = this.#abs(path);
    const cpu = readSmallFile(AT_FDCWD, dir + "/cpu.stat", MULTI_LINE_LIMIT);
    // usage_usec is always there on cgroup2; pids.forks (not mainline) only
    // matters where cpu.stat cannot tell.
    this.#evidence = null;
    if (cpu.kind === "ok" && /^usage_usec \d+$/m.test(cpu.text)) {
      if (!showsUse(cpu.text, null)) return false;
      this.#evidence = { path, cpuStat: cpu.text };
      return true;
    }
    const forks = readSmallFile(AT_FDCWD, dir + "/pids.forks", SINGLE_VALUE_LIMIT);
    const used = showsUse(null, forks.kind === "ok" ? forks.text : null);
    if (!used && cpu.kind === "error") {
      // Without evidence the cgroup waits for a populated 1 -> 0 transition;
      // say so, or an unreadable file would leave it behind silently.
      logWarning(
        `'${path}': cannot read cpu.stat (${cpu.message}); kept until it is seen populated`,
      );
    }
    return used;
  }

  subdirectories(path: string): string[] {
    const dir = this.#abs(path);
    try {
      // cgroupfs keeps a directory's link count at 2 + its subdirectories.
      if (statxLinkCount(AT_FDCWD, dir) === 2) return [];
      const names: string[] = [];
      for (const entry of Deno.readDirSync(dir)) if (entry.isDirectory) names.push(entry.name);
      return names;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      if (error instanceof SysError && GONE.includes(error.errno)) return [];
      throw error;
    }
  }

  snapshot(path: string, afterShowsUse = false): CgroupSnapshot {
    // The evidence was read while the cgroup was empty (populated 0 before
    // and after), which is when the accounting is to be read: reuse it.
    const cpuStat = afterShowsUse && this.#evidence?.path === path ? this.#evidence.cpuStat : null;
    this.#evidence = null;
    const slash = path.lastIndexOf("/");
    const parent = slash <= 0 ? "/" : path.slice(0, slash);
    const missed: string[] = [];
    const snapshot = snapshotCgroup(this.root, path, {
      btime: this.#btime,
      reader: (read) => {
        const reuse: FileReader = cpuStat === null
          ? read
          : (name, limit) =>
            name === "cpu.stat" ? { kind: "ok", text: cpuStat } : read(name, limit);
        return this.#absent.reader(parent, reuse, missed);
      },
    });
    const dirFd = snapshot.cgroup.dirFd;
    if (missed.length > 0 && dirFd !== null) {
      // Missing because the cgroup was removed meanwhile teaches nothing.
      const fd = openatAllowing(dirFd, "cgroup.events", O_PATH, GONE);
      if (fd >= 0) {
        closeQuietly(fd);
        this.#absent.learn(parent, missed);
      }
    }
    return snapshot;
  }

  controlsChanged(path: string | null): void {
    this.#absent.forget(path);
  }

  /** Optional accounting files known absent in children of `parent`. */
  absentFilesBelow(parent: string): string[] {
    return this.#absent.absentBelow(parent);
  }

  rmdir(path: string): number {
    try {
      return rmdir(this.#abs(path), [Errno.EBUSY, Errno.ENOENT]);
    } catch (error) {
      if (error instanceof SysError) return -error.errno;
      throw error;
    }
  }

  closeFd(fd: number): void {
    closeQuietly(fd);
  }

  describeErrno(errno: number): string {
    return strerror(errno);
  }

  close(): void {
    closeQuietly(this.inotifyFd);
  }
}
