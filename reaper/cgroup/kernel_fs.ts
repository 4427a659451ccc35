// CgroupFs on the real cgroup2 hierarchy: one inotify fd for every watch,
// small reads through openat/read/close, rmdir with errno. Every cgroup is
// opened relative to one O_PATH fd of the root, in pieces when its path is
// longer than PATH_MAX (a workload can nest that deep), and watched through
// /proc/self/fd; names are read with getdents64 and stay bytes.
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
import {
  closeQuietly,
  fstat,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  openatAllowing,
  pread,
  read,
} from "../../ffi/fd.ts";
import { statxLinkCount } from "../../ffi/fs.ts";
import {
  DT_DIR,
  openatAnyLength,
  PATH_CHUNK,
  readDirectory,
  rmdirAt,
} from "../../ffi/directory.ts";
import { type ByteString, byteString, concatBytes, utf8ByteString } from "../../ffi/byte_string.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { strerror, SysError } from "../../ffi/sys_error.ts";
import type { CgroupFs, CgroupSnapshot, Populated, WatchEvent } from "./fs.ts";
import { emptyStats, parsePopulated, showsUse, SINGLE_VALUE_LIMIT } from "./stats.ts";
import { FdBudget } from "./fd_budget.ts";
import { MULTI_LINE_LIMIT } from "./stats.ts";
import { readSmallFile, TRANSIENT_ERRNOS } from "./files.ts";
import type { FileResult } from "./stats.ts";
import { logWarning } from "../../shared/log.ts";
import { printable } from "../printable.ts";
import { hasBirthTime, openRoot, relativeBytes, snapshotCgroup } from "./snapshot.ts";
import { AbsentFiles } from "./absent_files.ts";
import type { FileReader } from "./stats.ts";

// IN_MODIFY: kernfs reports a change of cgroup.events to the directory's
// watch (name "cgroup.events") as long as the file's inode is cached, which
// the fd held by openEvents() guarantees.
const DIRECTORY_MASK = IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO |
  IN_MODIFY | IN_ONLYDIR;
const GONE: readonly number[] = [Errno.ENOENT, Errno.ENOTDIR, Errno.ENODEV];
const encoder = new TextEncoder();

export class KernelCgroupFs implements CgroupFs {
  readonly inotifyFd: number;
  /** O_PATH fd of the root: every cgroup is opened relative to it. */
  #rootFd: number;
  #procPrefix: Uint8Array;
  readonly #buffer = new Uint8Array(256 * 1024);
  readonly #eventsBuffer = new Uint8Array(MULTI_LINE_LIMIT);
  readonly #decoder = new TextDecoder();
  readonly #absent = new AbsentFiles();
  /** No statx for btime per cgroup on a file system without it (probed once). */
  readonly #btime: boolean;
  /** cpu.stat text of the last showsUse() that answered true. */
  #evidence: { path: string; cpuStat: string } | null = null;
  /** cgroup.events fds and hook directory fds held, against the fd limit. */
  readonly fdBudget = new FdBudget();

  constructor(readonly root: string) {
    this.#btime = hasBirthTime(root);
    this.#rootFd = openRoot(root);
    this.#procPrefix = encoder.encode(`/proc/self/fd/${this.#rootFd}/`);
    try {
      this.inotifyFd = inotifyInit();
    } catch (error) {
      closeQuietly(this.#rootFd);
      throw error;
    }
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

  #watch(path: Uint8Array): number | null {
    try {
      return inotifyAddWatch(this.inotifyFd, path, DIRECTORY_MASK);
    } catch (error) {
      if (error instanceof SysError && GONE.includes(error.errno)) return null;
      throw error;
    }
  }

  watchDirectory(path: ByteString): number | null {
    const rel = relativeBytes(path);
    if (rel.length <= PATH_CHUNK) return this.#watch(concatBytes(this.#procPrefix, rel));
    const fd = openatAnyLength(this.#rootFd, rel, O_PATH | O_DIRECTORY, GONE);
    if (fd < 0) return null;
    try {
      return this.#watch(encoder.encode(`/proc/self/fd/${fd}`));
    } finally {
      closeQuietly(fd);
    }
  }

  openEvents(path: ByteString): number | null {
    if (!this.fdBudget.allows()) {
      throw new SysError("openat(cgroup.events): fd budget", Errno.EMFILE);
    }
    const rel = concatBytes(relativeBytes(path), encoder.encode("/cgroup.events"));
    const fd = openatAnyLength(this.#rootFd, rel, O_RDONLY, GONE);
    if (fd < 0) return null;
    this.fdBudget.held++;
    return fd;
  }

  closeEvents(handle: number): void {
    this.fdBudget.held--;
    closeQuietly(handle);
  }

  unwatch(wd: number): void {
    inotifyRemoveWatch(this.inotifyFd, wd);
  }

  populated(handle: number): Populated {
    if (handle < 0) return "unknown";
    let n: number;
    try {
      n = pread(handle, this.#eventsBuffer, 0); // kernfs regenerates the text at offset 0
    } catch (error) {
      if (error instanceof SysError && error.errno === Errno.ENODEV) return "gone";
      return "unknown"; // cannot know: kept, read again later
    }
    return parsePopulated(this.#decoder.decode(this.#eventsBuffer.subarray(0, n))) ? "yes" : "no";
  }

  #file(path: ByteString, name: string): Uint8Array {
    return concatBytes(relativeBytes(path), encoder.encode("/" + name));
  }

  // A cpu.stat read flushes the kernel's per-CPU counters (rstat) of the
  // cgroup's subtree, and first unlinks the cgroup from its parent's list of
  // updated children, a singly linked list walked from the head: reading N
  // siblings that all ran costs O(N^2) (a burst of exits). Reading the
  // parent's cpu.stat first empties that list in one O(N) pass.
  prepareChildren(path: ByteString): void {
    readSmallFile(this.#rootFd, this.#file(path, "cpu.stat"), MULTI_LINE_LIMIT);
  }

  showsUse(path: ByteString): boolean | null {
    const cpu = readSmallFile(this.#rootFd, this.#file(path, "cpu.stat"), MULTI_LINE_LIMIT);
    // usage_usec is always there on cgroup2; pids.forks (not mainline) only
    // matters where cpu.stat cannot tell.
    this.#evidence = null;
    if (cpu.kind === "ok" && /^usage_usec \d+$/m.test(cpu.text)) {
      if (!showsUse(cpu.text, null)) return false;
      this.#evidence = { path, cpuStat: cpu.text };
      return true;
    }
    const forks = readSmallFile(
      this.#rootFd,
      this.#file(path, "pids.forks"),
      SINGLE_VALUE_LIMIT,
    );
    const used = showsUse(null, forks.kind === "ok" ? forks.text : null);
    // Without evidence the cgroup waits for a populated 1 -> 0 transition;
    // an unreadable file means "cannot know" and is asked again later.
    const transient = (r: FileResult) =>
      r.kind === "error" && TRANSIENT_ERRNOS.includes(r.errno ?? 0);
    if (!used && (transient(cpu) || transient(forks))) return null;
    if (!used && cpu.kind === "error") {
      // Not transient (EACCES): the cgroup waits for a populated 1 -> 0
      // transition; say so, or it would be left behind silently.
      logWarning(
        `'${
          printable(path)
        }': cannot read cpu.stat (${cpu.message}); kept until it is seen populated`,
      );
    }
    return used;
  }

  subdirectories(path: ByteString): string[] {
    const rel = relativeBytes(path);
    try {
      // cgroupfs keeps a directory's link count at 2 + its subdirectories.
      if (rel.length <= PATH_CHUNK && statxLinkCount(this.#rootFd, rel) === 2) return [];
      const fd = openatAnyLength(this.#rootFd, rel, O_RDONLY | O_DIRECTORY, GONE);
      if (fd < 0) return [];
      try {
        return readDirectory(fd).filter((e) => e.type === DT_DIR).map((e) => byteString(e.name));
      } finally {
        closeQuietly(fd);
      }
    } catch (error) {
      if (error instanceof SysError && GONE.includes(error.errno)) return [];
      throw error;
    }
  }

  snapshot(path: ByteString, afterShowsUse = false): CgroupSnapshot {
    if (!this.fdBudget.allows()) {
      return {
        cgroup: { path, dirFd: null, btime: null, takenAt: Date.now() / 1000, stats: emptyStats() },
        problems: ["no fd to spare for the directory (fd budget, EMFILE)"],
        complete: false,
        subdirectories: null,
      };
    }
    // The evidence was read while the cgroup was empty (populated 0 before
    // and after), which is when the accounting is to be read: reuse it.
    const cpuStat = afterShowsUse && this.#evidence?.path === path ? this.#evidence.cpuStat : null;
    this.#evidence = null;
    const slash = path.lastIndexOf("/");
    const parent = slash <= 0 ? "/" : path.slice(0, slash);
    const missed: string[] = [];
    const snapshot = snapshotCgroup(this.#rootFd, path, {
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
    if (dirFd !== null) this.fdBudget.held++; // until closeFd()
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

  rmdir(path: ByteString): number {
    try {
      return rmdirAt(this.#rootFd, relativeBytes(path), [Errno.EBUSY, Errno.ENOENT]);
    } catch (error) {
      if (error instanceof SysError) return -error.errno;
      throw error;
    }
  }

  /** Closes a snapshot's directory fd. */
  closeFd(fd: number): void {
    this.fdBudget.held--;
    closeQuietly(fd);
  }

  describeErrno(errno: number): string {
    return strerror(errno);
  }

  watchRootParent(): { wd: number; rootName: string } | null {
    const slash = this.root.lastIndexOf("/");
    if (slash < 0 || this.root === "/") return null;
    try {
      const parent = slash === 0 ? "/" : this.root.slice(0, slash);
      const wd = inotifyAddWatch(
        this.inotifyFd,
        parent,
        IN_CREATE | IN_DELETE | IN_MOVED_FROM |
          IN_MOVED_TO | IN_ONLYDIR,
      );
      return { wd, rootName: utf8ByteString(this.root.slice(slash + 1)) };
    } catch {
      return null; // then only the root's own IN_DELETE_SELF and rescans notice
    }
  }

  rootReplaced(): boolean {
    try {
      const current = Deno.statSync(this.root);
      const held = fstat(this.#rootFd);
      return BigInt(current.ino ?? 0) !== held.ino || BigInt(current.dev) !== held.dev;
    } catch {
      return true;
    }
  }

  reopenRoot(): boolean {
    let fd: number;
    try {
      fd = openRoot(this.root);
    } catch {
      return false;
    }
    closeQuietly(this.#rootFd);
    this.#rootFd = fd;
    this.#procPrefix = encoder.encode(`/proc/self/fd/${fd}/`);
    this.#absent.forget(null);
    return true;
  }

  close(): void {
    closeQuietly(this.inotifyFd);
    closeQuietly(this.#rootFd);
  }
}
