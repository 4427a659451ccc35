// Tracks every cgroup below the managed scopes and decides when one is reaped
// (spec §3.1-3.3, decision 10). Synchronous and I/O-free apart from the
// CgroupFs it is given, so tests drive it with a fake file system.
//
// Model: a tree of nodes mirroring the directories that matter. "ancestor"
// nodes lie on the way from the root to a scope (only the next component is
// followed), "scope" nodes are the managed scopes (never reaped), "cgroup"
// nodes are everything below a scope at any depth. Every node has a
// directory watch (subdirectories created/deleted); cgroup nodes also keep
// cgroup.events open: the open file pins its inode, without which the
// kernel skips the change notification, and it is re-read with pread.
// Changes then arrive on the directory watch as IN_MODIFY "cgroup.events".
import {
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_IGNORED,
  IN_ISDIR,
  IN_MODIFY,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_Q_OVERFLOW,
} from "../../ffi/inotify.ts";
import { Errno } from "../../ffi/errno_names.ts";
import type { CgroupFs, WatchEvent } from "./fs.ts";
import type { ReaperHook, ReleasedCgroup } from "../hook.ts";
import { childPath, pathComponents, statsSuffix } from "./path.ts";
import { DeletionQueue, REAL_TIMERS, type TimerId, type Timers } from "./deletion_queue.ts";
import { formatStatsLine } from "./stats_line.ts";
import type { Priority } from "../../shared/log.ts";

/** Changed children of one parent in a batch from which prepareChildren() pays. */
const PREPARE_THRESHOLD = 8;

type Kind = "ancestor" | "scope" | "cgroup";

class Node {
  readonly children = new Map<string, Node>();
  dirWd = -1;
  /** CgroupFs handle of cgroup.events (cgroup nodes), or -1. */
  events = -1;
  /** cgroup.events said "populated 1" at some point. */
  seenPopulated = false;
  /** Reaped, waiting in the deletion queue. */
  queued = false;
  dropped = false;
  /** Consecutive EBUSY answers to rmdir while it looked empty. */
  busy = 0;
  retryTimer: TimerId | null = null;
  constructor(
    readonly name: string,
    readonly path: string,
    readonly parent: Node | null,
    readonly kind: Kind,
    /** The scope a cgroup belongs to (nearest scope above it). */
    readonly scope: string | null,
    /** Found by the start-up scan: reaped when empty, no evidence needed. */
    readonly initial: boolean,
  ) {}
}

interface Pending {
  node: Node;
  dirFd: number | null;
}

export interface TrackerOptions {
  fs: CgroupFs;
  /** Normalized scope paths (leading "/", never "/"). */
  scopes: readonly string[];
  hook: ReaperHook;
  /** Receives each stats line (without newline) and the snapshot it was made from. */
  writeStatsLine(line: string, cgroup: ReleasedCgroup): void;
  log(priority: Priority, message: string): void;
  timers?: Timers;
  deletionDelayMs?: number;
  maxDeferralMs?: number;
  /** Longest wait between attempts on a cgroup whose rmdir keeps saying EBUSY. */
  maxBusyBackoffMs?: number;
}

export interface CgroupTrackerView {
  scopes: { path: string; present: boolean }[];
  cgroups: { path: string; everPopulated: boolean; queued: boolean; busyRetries: number }[];
}

export interface TrackerCounters {
  reaped: number;
  deleted: number;
  rescans: number;
}

export class CgroupTracker {
  readonly #fs: CgroupFs;
  readonly #hook: ReaperHook;
  readonly #options: TrackerOptions;
  readonly #timers: Timers;
  readonly #scopes: Set<string>;
  /** ancestor path -> names of the children that lead to a scope */
  readonly #wanted = new Map<string, Set<string>>();
  readonly #byWd = new Map<number, Node>();
  readonly #queue: DeletionQueue<Pending>;
  #root: Node | null = null;
  #initialCandidates: Node[] | null = null;
  readonly counters: TrackerCounters = { reaped: 0, deleted: 0, rescans: 0 };

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#fs = options.fs;
    this.#hook = options.hook;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#scopes = new Set(options.scopes);
    for (const scope of options.scopes) {
      if (scope === "/") throw new Error("the cgroup root cannot be a scope");
      let path = "/";
      for (const part of pathComponents(scope)) {
        let names = this.#wanted.get(path);
        if (!names) this.#wanted.set(path, names = new Set());
        names.add(part);
        path = childPath(path, part);
      }
    }
    this.#queue = new DeletionQueue<Pending>(
      (path, pending) => this.#guard(`deleting '${path}'`, () => this.#delete(path, pending)),
      (pending) => this.#closeDirFd(pending),
      this.#timers,
      options.deletionDelayMs ?? 50,
      options.maxDeferralMs ?? 1000,
    );
  }

  /** Number of cgroups (below scopes) currently tracked. */
  get trackedCgroups(): number {
    let n = 0;
    for (const node of this.#byWd.values()) if (node.kind === "cgroup") n++;
    return n;
  }

  /** Number of inotify watches held (one per directory). */
  get watches(): number {
    return this.#byWd.size;
  }

  /**
   * The start-up scan: registers everything that exists. Empty cgroups found
   * here are reaped by reapInitial(), called once the daemon is ready.
   */
  start(): void {
    if (this.#root) throw new Error("tracker already started");
    const root = new Node("", "/", null, "ancestor", null, true);
    const wd = this.#fs.watchDirectory("/");
    if (wd === null) throw new Error("the cgroup root directory does not exist");
    root.dirWd = wd;
    this.#byWd.set(wd, root);
    this.#root = root;
    this.#initialCandidates = [];
    this.#scanChildren(root, true);
  }

  /** Reaps the empty cgroups found by start() (children before parents). */
  reapInitial(): void {
    const candidates = this.#initialCandidates ?? [];
    this.#initialCandidates = null;
    for (const node of candidates) this.#guard(`'${node.path}'`, () => this.#consider(node));
  }

  /** Runs fn, logging instead of throwing: timer callbacks must never throw. */
  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#options.log("error", `${what}: ${describe(error)}`);
    }
  }

  /** Handles a batch of inotify events. */
  handleEvents(events: readonly WatchEvent[]): void {
    this.#prepareParents(events);
    let overflow = false;
    for (const event of events) {
      if (event.mask & IN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      try {
        this.#handleEvent(event);
      } catch (error) {
        this.#options.log("error", `inotify event for wd ${event.wd}: ${describe(error)}`);
        overflow = true; // our picture may be incomplete: reconcile with the file system
      }
    }
    if (overflow) this.rescan();
  }

  /** Gives the fs a hint for parents with many cgroup.events changes in this batch. */
  #prepareParents(events: readonly WatchEvent[]): void {
    if (!this.#fs.prepareChildren || events.length < PREPARE_THRESHOLD) return;
    const counts = new Map<Node, number>();
    for (const event of events) {
      if (!(event.mask & IN_MODIFY) || event.name !== "cgroup.events") continue;
      const parent = this.#byWd.get(event.wd)?.parent;
      if (parent) counts.set(parent, (counts.get(parent) ?? 0) + 1);
    }
    for (const [parent, n] of counts) {
      if (n >= PREPARE_THRESHOLD && !parent.dropped) this.#fs.prepareChildren(parent.path);
    }
  }

  /**
   * Reconciles the model with the file system after events were lost
   * (IN_Q_OVERFLOW): new directories are registered, vanished ones dropped,
   * and every cgroup's populated state is read again.
   */
  rescan(): void {
    if (!this.#root) return;
    this.counters.rescans++;
    this.#fs.controlsChanged?.(null);
    this.#options.log("warning", "inotify queue overflow or error: rescanning all cgroups");
    this.#reconcile(this.#root);
  }

  /** Shutdown: pending deletions are dropped, watches and timers released. */
  close(): void {
    this.#queue.clear();
    if (this.#root) this.#drop(this.#root);
    this.#root = null;
  }

  /** Runs the pending deletions now (tests, benchmarks). */
  flushDeletions(): void {
    this.#queue.flush();
  }

  get pendingDeletions(): number {
    return this.#queue.size;
  }

  /**
   * What the control socket shows (read-only): the scopes (present or not),
   * every cgroup watched, and what awaits deletion.
   */
  inspect(): CgroupTrackerView {
    const view: CgroupTrackerView = { scopes: [], cgroups: [] };
    const present = new Set<string>();
    const walk = (node: Node) => {
      if (node.kind === "scope") present.add(node.path);
      if (node.kind === "cgroup") {
        view.cgroups.push({
          path: node.path,
          everPopulated: node.seenPopulated,
          queued: node.queued,
          busyRetries: node.busy,
        });
      }
      for (const child of node.children.values()) walk(child);
    };
    if (this.#root) walk(this.#root);
    view.scopes = [...this.#scopes].map((path) => ({ path, present: present.has(path) }));
    return view;
  }

  /** inspect()'s counts without the lists (STATUS= asks every second). */
  summary(): { cgroups: number; awaitingDeletion: number } {
    const sum = { cgroups: 0, awaitingDeletion: 0 };
    const walk = (node: Node) => {
      if (node.kind === "cgroup") {
        sum.cgroups++;
        if (node.queued || node.busy > 0) sum.awaitingDeletion++;
      }
      for (const child of node.children.values()) walk(child);
    };
    if (this.#root) walk(this.#root);
    return sum;
  }

  #handleEvent(event: WatchEvent): void {
    const node = this.#byWd.get(event.wd);
    if (!node || node.dropped) return;
    if (event.mask & IN_ISDIR) {
      if (event.mask & (IN_CREATE | IN_MOVED_TO)) {
        this.#attach(node, event.name, false);
      } else if (event.mask & (IN_DELETE | IN_MOVED_FROM)) {
        const child = node.children.get(event.name);
        if (child) {
          this.#drop(child);
          this.#consider(node);
        }
      }
    } else if (event.mask & IN_MODIFY) {
      if (event.name === "cgroup.events") this.#consider(node);
      else if (event.name === "cgroup.subtree_control") this.#fs.controlsChanged?.(node.path);
    }
    if (event.mask & (IN_DELETE_SELF | IN_IGNORED)) {
      if (event.mask & IN_IGNORED) {
        this.#byWd.delete(event.wd);
        node.dirWd = -1;
      }
      const parent = node.parent;
      if (parent) {
        this.#drop(node);
        this.#consider(parent);
      }
    }
  }

  #classify(parent: Node, path: string): Kind | null {
    if (this.#scopes.has(path)) return "scope";
    if (parent.kind !== "ancestor") return "cgroup";
    return this.#wanted.get(parent.path)?.has(pathComponents(path).at(-1)!) ? "ancestor" : null;
  }

  /** Registers parent/name (and everything below it) if it matters. */
  #attach(parent: Node, name: string, initial: boolean): void {
    if (parent.children.has(name)) return;
    const path = childPath(parent.path, name);
    const kind = this.#classify(parent, path);
    if (kind === null) return;
    const wd = this.#fs.watchDirectory(path);
    if (wd === null) return;
    const stale = this.#byWd.get(wd);
    if (stale) {
      // The same inode under another name cannot happen on cgroupfs (no
      // renames); a leftover from a missed deletion can. Start afresh.
      this.#drop(stale);
      if (parent.dropped) return;
    }
    const scope = kind === "scope"
      ? path
      : kind === "cgroup"
      ? (parent.kind === "scope" ? parent.path : parent.scope)
      : null;
    const node = new Node(name, path, parent, kind, scope, initial);
    node.dirWd = wd;
    this.#byWd.set(wd, node);
    parent.children.set(name, node);
    if (kind === "cgroup") {
      const events = this.#fs.openEvents(path);
      if (events === null) {
        this.#drop(node);
        return;
      }
      node.events = events;
    }
    this.#scanChildren(node, initial);
    if (kind !== "cgroup" || node.dropped) return;
    if (this.#initialCandidates && initial) {
      this.#initialCandidates.push(node); // reapInitial() decides once the daemon is ready
    } else {
      this.#consider(node);
    }
  }

  #scanChildren(node: Node, initial: boolean): void {
    if (node.kind === "ancestor") {
      for (const name of this.#wanted.get(node.path) ?? []) this.#attach(node, name, initial);
    } else {
      for (const name of this.#fs.subdirectories(node.path)) this.#attach(node, name, initial);
    }
  }

  /** Reaps the cgroup if it is empty, childless and (decision 10) was used. */
  #consider(node: Node): void {
    if (node.kind !== "cgroup" || node.dropped || node.queued || node.children.size > 0) return;
    if (!this.#readEmpty(node)) return;
    if (!node.initial && !node.seenPopulated) {
      if (!this.#fs.showsUse(node.path)) return;
      // A process moved in after the first read may already show CPU time
      // (the kernel can charge it time spent before the move), so "empty"
      // must hold after the evidence was read, not only before.
      if (!this.#readEmpty(node)) return;
      this.#reap(node, true);
    } else {
      this.#reap(node, false);
    }
  }

  /** cgroup.events says populated 0 (a populated 1 is remembered as evidence). */
  #readEmpty(node: Node): boolean {
    const populated = this.#fs.populated(node.events);
    if (populated === null) return false; // gone; its deletion event follows
    if (populated) {
      node.seenPopulated = true;
      node.busy = 0;
      return false;
    }
    return true;
  }

  #reap(node: Node, afterShowsUse: boolean): void {
    if (node.retryTimer !== null) {
      this.#timers.clearTimeout(node.retryTimer);
      node.retryTimer = null;
    }
    const { cgroup, problems } = this.#fs.snapshot(node.path, afterShowsUse);
    for (const problem of problems) this.#options.log("error", `'${node.path}': ${problem}`);
    const line = formatStatsLine(statsSuffix(node.path, node.scope), cgroup, cgroup.takenAt);
    if (line !== null) {
      try {
        this.#options.writeStatsLine(line, cgroup);
      } catch {
        // stderr gone (EPIPE): the reap and the deletion still go ahead
      }
    }
    this.counters.reaped++;
    let result: Promise<boolean>;
    try {
      result = this.#hook.cgroupReleased(cgroup);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.catch((error) => {
      this.#options.log("error", `cgroup_released('${node.path}'): ${describe(error)}`);
    });
    node.queued = true;
    this.#queue.add(node.path, { node, dirFd: cgroup.dirFd });
  }

  #delete(path: string, pending: Pending): void {
    const node = pending.node;
    node.queued = false;
    let r: number;
    try {
      // Deleted behind our back: the path may already name a new cgroup.
      if (node.dropped) return;
      r = this.#fs.rmdir(path);
    } finally {
      this.#closeDirFd(pending); // the hook's fd lives until the attempt
    }
    if (r === 0 || r === -Errno.ENOENT) {
      if (r === 0) this.counters.deleted++;
      const parent = node.parent!;
      this.#drop(node);
      this.#consider(parent);
    } else if (r === -Errno.EBUSY) {
      // Repopulated or a child appeared: watch again, keeping `initial`.
      this.#scanChildren(node, false);
      if (node.dropped || node.children.size > 0) return;
      node.busy++;
      const backoff = Math.min(
        (this.#options.deletionDelayMs ?? 50) * 2 ** (node.busy - 1),
        this.#options.maxBusyBackoffMs ?? 30_000,
      );
      if (node.busy === 1) {
        this.#consider(node);
      } else {
        node.retryTimer = this.#timers.setTimeout(() => {
          node.retryTimer = null;
          this.#guard(`'${node.path}'`, () => this.#consider(node));
        }, backoff);
      }
    } else {
      this.#options.log("error", `Failed to delete '${path}': ${this.#fs.describeErrno(-r)}`);
    }
  }

  #closeDirFd(pending: Pending): void {
    if (pending.dirFd !== null) this.#fs.closeFd(pending.dirFd);
    pending.dirFd = null;
  }

  /** Forgets a node and everything below it (the directory is gone). */
  #drop(node: Node): void {
    if (node.dropped) return;
    node.dropped = true;
    for (const child of node.children.values()) this.#drop(child);
    node.children.clear();
    if (node.dirWd >= 0) {
      if (this.#byWd.get(node.dirWd) === node) this.#byWd.delete(node.dirWd);
      this.#fs.unwatch(node.dirWd);
      node.dirWd = -1;
    }
    if (node.events >= 0) this.#fs.closeEvents(node.events);
    node.events = -1;
    // A directory made later under this path starts with its own controls.
    if (node.kind !== "ancestor") this.#fs.controlsChanged?.(node.path);
    if (node.retryTimer !== null) this.#timers.clearTimeout(node.retryTimer);
    node.retryTimer = null;
    if (node.parent?.children.get(node.name) === node) node.parent.children.delete(node.name);
  }

  #reconcile(node: Node): void {
    if (node.dropped) return;
    const present = node.kind === "ancestor"
      ? [...(this.#wanted.get(node.path) ?? [])]
      : this.#fs.subdirectories(node.path);
    if (node.kind !== "ancestor") {
      const onDisk = new Set(present);
      for (const child of [...node.children.values()]) {
        if (!onDisk.has(child.name)) this.#drop(child);
      }
    }
    for (const name of present) {
      const child = node.children.get(name);
      if (!child) {
        this.#attach(node, name, false);
        continue;
      }
      // Same wd = same inode; otherwise it was deleted and re-created.
      const wd = this.#fs.watchDirectory(child.path);
      if (wd === child.dirWd) {
        this.#reconcile(child);
      } else {
        this.#drop(child);
        this.#attach(node, name, false);
      }
    }
    this.#consider(node);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
