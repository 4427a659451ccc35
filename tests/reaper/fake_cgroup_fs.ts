// An in-memory cgroup hierarchy with inotify-like events, for driving the
// tracker without root. Events queue up until drain(), like an inotify fd.
import type { CgroupFs, CgroupSnapshot, Populated, WatchEvent } from "../../reaper/cgroup/fs.ts";
import { SysError } from "../../ffi/sys_error.ts";
import { childPath } from "../../reaper/cgroup/path.ts";
import { emptyStats } from "../../reaper/cgroup/stats.ts";
import { IN_CREATE, IN_DELETE, IN_ISDIR, IN_MODIFY, IN_Q_OVERFLOW } from "../../ffi/inotify.ts";
import { Errno } from "../../ffi/errno_names.ts";
import type { TimerId, Timers } from "../../reaper/cgroup/deletion_queue.ts";

class Dir {
  readonly children = new Map<string, Dir>();
  procs = false;
  populated = false;
  usageUsec = 0;
  constructor(readonly inode: number) {}
}

export class FakeCgroupFs implements CgroupFs {
  readonly root = new Dir(1);
  #nextInode = 2;
  #nextWd = 1;
  #nextFd = 100;
  readonly #watches = new Map<number, number>(); // wd -> inode
  readonly #byInode = new Map<number, number>(); // inode -> wd
  readonly #live = new Map<number, Dir>(); // inode -> existing directory
  /** Open cgroup.events handles (= inodes); like the kernel, changes are only reported for these. */
  readonly openEvents_ = new Map<number, number>();
  queue: WatchEvent[] = [];
  readonly openFds = new Set<number>();
  readonly rmdirCalls: string[] = [];
  /** Paths whose rmdir answers this errno (e.g. EACCES, or EBUSY forever). */
  readonly rmdirErrors = new Map<string, number>();
  /** Called before each showsUse()/populated() read, to interleave changes. */
  beforeRead: (kind: "use" | "populated") => void = () => {};
  /** Set to drop events instead of queueing them (simulated overflow). */
  losing = false;
  /**
   * Injected failures (EMFILE, ENOSPC...): while a predicate answers true
   * for a path, that operation throws SysError with the errno.
   */
  readonly failing: Partial<
    Record<"watch" | "events" | "populated" | "accounting" | "list", (path: string) => boolean>
  > = {};
  failErrno: number = Errno.EMFILE;
  readonly #pathOf = new Map<number, string>(); // inode -> path (for failing.populated)

  #inject(kind: keyof FakeCgroupFs["failing"], path: string, call: string): void {
    if (this.failing[kind]?.(path)) throw new SysError(call, this.failErrno);
  }

  #lookup(path: string): Dir | null {
    if (path === "/") return this.root;
    let dir: Dir | undefined = this.root;
    for (const part of path.slice(1).split("/")) {
      dir = dir.children.get(part);
      if (!dir) return null;
    }
    return dir;
  }

  #split(path: string): [string, string] {
    const i = path.lastIndexOf("/");
    return [i === 0 ? "/" : path.slice(0, i), path.slice(i + 1)];
  }

  #emit(inode: number, mask: number, name: string): void {
    const wd = this.#byInode.get(inode);
    if (wd === undefined) return;
    if (name === "cgroup.events" && !this.openEvents_.has(inode)) return;
    if (this.losing) return;
    this.queue.push({ wd, mask, name });
  }

  exists(path: string): boolean {
    return this.#lookup(path) !== null;
  }

  /** mkdir -p */
  mkdir(path: string): void {
    let dir = this.root;
    let current = "/";
    for (const part of path.slice(1).split("/")) {
      current = childPath(current, part);
      let child = dir.children.get(part);
      if (!child) {
        child = new Dir(this.#nextInode++);
        this.#live.set(child.inode, child);
        dir.children.set(part, child);
        this.#emit(dir.inode, IN_CREATE | IN_ISDIR, part);
      }
      dir = child;
    }
  }

  /** mkdir of one level below an existing directory, O(depth) (mkdir is O(depth^2)). */
  mkdirChild(path: string): void {
    const [parentPath, name] = this.#split(path);
    const parent = this.#lookup(parentPath);
    if (!parent) throw new Error(`no ${parentPath}`);
    const child = new Dir(this.#nextInode++);
    this.#live.set(child.inode, child);
    parent.children.set(name, child);
    this.#emit(parent.inode, IN_CREATE | IN_ISDIR, name);
  }

  /** Moves a process in (true) or lets the last one exit (false); ancestors follow. */
  setPopulated(path: string, populated: boolean): void {
    const dir = this.#lookup(path);
    if (!dir) throw new Error(`no ${path}`);
    dir.procs = populated;
    for (let p = path;; p = this.#split(p)[0]) {
      const d = this.#lookup(p)!;
      if (populated) d.usageUsec += 1000; // cpu.stat is hierarchical
      const now = d.procs || [...d.children.values()].some((c) => c.populated);
      if (d.populated !== now) {
        d.populated = now;
        this.#emit(d.inode, IN_MODIFY, "cgroup.events");
      }
      if (p === "/") break;
    }
  }

  /** A process runs and exits (populated 1 then 0). */
  run(path: string): void {
    this.setPopulated(path, true);
    this.setPopulated(path, false);
  }

  /** rmdir by someone else. */
  removeExternally(path: string): void {
    const [parentPath, name] = this.#split(path);
    const parent = this.#lookup(parentPath)!;
    const dir = parent.children.get(name)!;
    if (dir.children.size > 0 || dir.populated) throw new Error(`${path} busy`);
    parent.children.delete(name);
    this.#live.delete(dir.inode);
    this.#emit(parent.inode, IN_DELETE | IN_ISDIR, name);
  }

  overflow(): void {
    this.losing = false;
    this.queue.push({ wd: -1, mask: IN_Q_OVERFLOW, name: "" });
  }

  drain(): WatchEvent[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  get watchCount(): number {
    return this.#watches.size;
  }

  watchDirectory(path: string): number | null {
    const dir = this.#lookup(path);
    if (!dir) return null;
    this.#inject("watch", path, "inotify_add_watch");
    const existing = this.#byInode.get(dir.inode);
    if (existing !== undefined) return existing;
    const wd = this.#nextWd++;
    this.#watches.set(wd, dir.inode);
    this.#byInode.set(dir.inode, wd);
    return wd;
  }

  unwatch(wd: number): void {
    const inode = this.#watches.get(wd);
    if (inode === undefined) return;
    this.#watches.delete(wd);
    this.#byInode.delete(inode);
  }

  openEvents(path: string): number | null {
    const dir = this.#lookup(path);
    if (!dir) return null;
    this.#inject("events", path, "openat");
    this.#pathOf.set(dir.inode, path);
    this.openEvents_.set(dir.inode, (this.openEvents_.get(dir.inode) ?? 0) + 1);
    return dir.inode;
  }

  closeEvents(handle: number): void {
    const n = this.openEvents_.get(handle);
    if (n === undefined) throw new Error(`events handle ${handle} closed twice`);
    if (n === 1) this.openEvents_.delete(handle);
    else this.openEvents_.set(handle, n - 1);
  }

  populated(handle: number): Populated {
    this.beforeRead("populated");
    if (handle < 0) return "unknown";
    if (!this.openEvents_.has(handle)) throw new Error(`populated() on closed handle ${handle}`);
    const dir = this.#live.get(handle);
    if (!dir) return "gone";
    if (this.failing.populated?.(this.#pathOf.get(handle) ?? "")) return "unknown";
    return dir.populated ? "yes" : "no";
  }

  /** Paths given to prepareChildren(), in order. */
  readonly prepared: string[] = [];

  prepareChildren(path: string): void {
    this.prepared.push(path);
  }

  showsUse(path: string): boolean {
    this.beforeRead("use");
    return (this.#lookup(path)?.usageUsec ?? 0) > 0;
  }

  subdirectories(path: string): string[] {
    this.#inject("list", path, "getdents64");
    return [...(this.#lookup(path)?.children.keys() ?? [])];
  }

  /** [path, afterShowsUse] of every snapshot() call. */
  readonly snapshots: [string, boolean][] = [];
  /** Arguments of every controlsChanged() call. */
  readonly controlsChangedCalls: (string | null)[] = [];

  /** Someone wrote the directory's cgroup.subtree_control. */
  writeSubtreeControl(path: string): void {
    this.#emit(this.#lookup(path)!.inode, IN_MODIFY, "cgroup.subtree_control");
  }

  controlsChanged(path: string | null): void {
    this.controlsChangedCalls.push(path);
  }

  snapshot(path: string, afterShowsUse = false): CgroupSnapshot {
    this.snapshots.push([path, afterShowsUse]);
    const dir = this.#lookup(path);
    const stats = emptyStats();
    let dirFd: number | null = null;
    if (dir && this.failing.accounting?.(path)) {
      return {
        cgroup: { path, dirFd: null, btime: null, takenAt: 1000, stats },
        problems: ["failed to read cpu.stat: openat: Too many open files (EMFILE)"],
        complete: false,
        subdirectories: null,
      };
    }
    if (dir) {
      dirFd = this.#nextFd++;
      this.openFds.add(dirFd);
      stats.cpuTotal = dir.usageUsec / 1e6;
    }
    return {
      cgroup: { path, dirFd, btime: null, takenAt: 1000, stats },
      problems: [],
      complete: true,
      subdirectories: dir ? dir.children.size : null,
    };
  }

  rmdir(path: string): number {
    this.rmdirCalls.push(path);
    const forced = this.rmdirErrors.get(path);
    if (forced !== undefined) return -forced;
    const dir = this.#lookup(path);
    if (!dir) return -Errno.ENOENT;
    if (dir.children.size > 0 || dir.populated) return -Errno.EBUSY;
    const [parentPath, name] = this.#split(path);
    this.#lookup(parentPath)!.children.delete(name);
    this.#live.delete(dir.inode);
    this.#emit(this.#lookup(parentPath)!.inode, IN_DELETE | IN_ISDIR, name);
    return 0;
  }

  closeFd(fd: number): void {
    if (!this.openFds.delete(fd)) throw new Error(`fd ${fd} closed twice or never opened`);
  }

  describeErrno(errno: number): string {
    return `errno ${errno}`;
  }
}

/** Manual timers: advance(ms) fires what is due, in order. */
export class FakeTimers implements Timers {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.#timers.delete(id as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
  }
}
