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
//
// Paths and names are byte strings (exact kernel bytes); log lines show
// them through printable(). What cannot be known is kept, never taken for
// "empty": a cgroup whose watch, cgroup.events or accounting could not be
// read (EMFILE, ENOSPC, ENAMETOOLONG...) stays, with its parent, and the
// failures are logged once per episode with counts; a catch-up pass retries
// with back-off until nothing is left behind. A reaped cgroup trades its
// cgroup.events fd for the hook's directory fd (one fd per cgroup), and its
// hook runs once per population: a deletion that fails (EBUSY) is retried
// without reaping it again.
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
import { printable, printableText } from "../printable.ts";

/** Changed children of one parent in a batch from which prepareChildren() pays. */
const PREPARE_THRESHOLD = 8;
/** Back-off of the catch-up pass after failures (and while the root is gone). */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

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
  /** Stats line written and hook called for the current population. */
  accounted = false;
  /** A subdirectory could not be registered: not known to be childless. */
  incomplete = false;
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

/** One directory being registered: the names of its children still to do. */
interface ScanFrame {
  node: Node;
  initial: boolean;
  names: Iterator<string>;
  /** Finish the node (consider it) once its children are done. */
  finish: boolean;
}

export interface TrackerOptions {
  fs: CgroupFs;
  /** Normalized scope paths (leading "/", never "/"), byte strings. */
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
  /** First wait before a catch-up pass after failures (doubling up to maxRetryMs). */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

export interface CgroupTrackerView {
  scopes: { path: string; present: boolean }[];
  cgroups: { path: string; everPopulated: boolean; queued: boolean; busyRetries: number }[];
}

export interface TrackerCounters {
  reaped: number;
  deleted: number;
  rescans: number;
  /** Catch-up passes run after failures (resources short, unreadable files). */
  catchUps: number;
  /** Reaps put off because the accounting could not be read. */
  accountingDeferred: number;
}

/** Failures that leave something unknown until the next catch-up pass. */
type FailureKind = "watch" | "events" | "populated" | "evidence" | "accounting" | "list";
const FAILURE_TEXT: Record<FailureKind, string> = {
  watch: "could not register",
  events: "could not open cgroup.events of",
  populated: "could not read cgroup.events of",
  evidence: "could not read cpu.stat of",
  accounting: "could not read the accounting of",
  list: "could not list the subdirectories of",
};

interface FailureTally {
  /** Distinct cgroups (one may fail several times in a pass). */
  paths: Set<string>;
  example: string;
  error: string;
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
  readonly counters: TrackerCounters = {
    reaped: 0,
    deleted: 0,
    rescans: 0,
    catchUps: 0,
    accountingDeferred: 0,
  };
  /** Failures of the current pass, by kind. */
  #failures = new Map<FailureKind, FailureTally>();
  /** A failure episode was logged; its end is logged too ("caught up"). */
  #episode = false;
  #retryMs: number;
  #retryTimer: TimerId | null = null;
  /** Paths the start-up scan could not register: found later, they count as initial. */
  readonly #startupMissed = new Set<string>();
  /** The watch on the root's parent directory (root removed / made again). */
  #rootParent: { wd: number; rootName: string } | null = null;

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#fs = options.fs;
    this.#hook = options.hook;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#retryMs = options.firstRetryMs ?? FIRST_RETRY_MS;
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
      (path, pending) =>
        this.#guard(`deleting '${printable(path)}'`, () => this.#delete(path, pending)),
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

  /** A catch-up pass is scheduled (something failed and is retried). */
  get catchingUp(): boolean {
    return this.#retryTimer !== null;
  }

  /**
   * The start-up scan: registers everything that exists. Empty cgroups found
   * here are reaped by reapInitial(), called once the daemon is ready. Only
   * a missing root throws; anything else is kept and retried.
   */
  start(): void {
    if (this.#root) throw new Error("tracker already started");
    this.#initialCandidates = [];
    this.#rootParent = this.#fs.watchRootParent?.() ?? null;
    let wd: number | null;
    try {
      wd = this.#fs.watchDirectory("/");
    } catch (error) {
      // ENOSPC, EMFILE...: retry rather than exit and leave everything unreaped
      this.#startupMissed.add("/");
      this.#fail("watch", "/", error);
      this.#endPass();
      return;
    }
    if (wd === null) throw new Error("the cgroup root directory does not exist");
    this.#startRoot(wd, true);
    this.#endPass();
  }

  #startRoot(wd: number, initial: boolean): void {
    const root = new Node("", "/", null, "ancestor", null, true);
    root.dirWd = wd;
    this.#byWd.set(wd, root);
    this.#root = root;
    this.#scanChildren(root, initial);
  }

  /** Reaps the empty cgroups found by start() (children before parents). */
  reapInitial(): void {
    const candidates = this.#initialCandidates ?? [];
    this.#initialCandidates = null;
    for (const node of candidates) {
      this.#guard(`'${printable(node.path)}'`, () => this.#consider(node));
    }
    this.#endPass();
  }

  /** Runs fn, logging instead of throwing: timer callbacks must never throw. */
  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#options.log("error", `${what}: ${printableText(describe(error))}`);
    }
    this.#endPass();
  }

  /** Notes a failure that left `path` (and below) unknown; #endPass() reports it. */
  #fail(kind: FailureKind, path: string, error: unknown): void {
    const tally = this.#failures.get(kind);
    if (tally) tally.paths.add(path);
    else {this.#failures.set(kind, {
        paths: new Set([path]),
        example: path,
        error: describe(error),
      });}
  }

  /**
   * Ends a pass (start-up scan, event batch, deletion, catch-up): failures
   * are logged once per episode, with counts, and a catch-up is scheduled.
   */
  #endPass(): void {
    if (this.#failures.size === 0) return;
    const failures = this.#failures;
    this.#failures = new Map();
    if (!this.#episode) {
      this.#episode = true;
      const parts = [...failures].map(([kind, t]) =>
        `${FAILURE_TEXT[kind]} ${t.paths.size} cgroup${t.paths.size === 1 ? "" : "s"} ` +
        `(e.g. '${printable(t.example)}': ${printableText(t.error)})`
      );
      this.#options.log(
        "error",
        `${parts.join("; ")}; kept, retrying from ${this.#retryMs / 1000} s on ` +
          `(logged once until all is read)`,
      );
    }
    this.#scheduleCatchUp();
  }

  #scheduleCatchUp(): void {
    if (this.#retryTimer !== null || this.#closed) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(delay * 2, this.#options.maxRetryMs ?? MAX_RETRY_MS);
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = null;
      this.#guard("catch-up", () => this.catchUp());
    }, delay);
  }

  #closed = false;

  /**
   * Registers and reads again whatever failed before: a full reconciliation
   * with the file system (the retry timer runs it; tests may call it).
   */
  catchUp(): void {
    this.counters.catchUps++;
    if (!this.#root) {
      this.#tryRoot();
    } else if (this.#fs.rootReplaced?.()) {
      this.#rootLost();
      return;
    } else {
      this.#reconcile(this.#root);
    }
    if (this.#failures.size > 0 || !this.#root) {
      this.#episode = true; // reported when it began
      this.#endPass();
      if (!this.#root) this.#scheduleCatchUp();
      return;
    }
    this.#startupMissed.clear();
    this.#retryMs = this.#options.firstRetryMs ?? FIRST_RETRY_MS;
    if (this.#episode) {
      this.#episode = false;
      this.#options.log("notice", `caught up: ${this.trackedCgroups} cgroups tracked`);
    }
  }

  /** The root directory went away (removed, unmounted): wait for it to come back. */
  #rootLost(): void {
    const root = this.#root;
    this.#root = null;
    if (root) this.#drop(root);
    this.#options.log("warning", "the cgroup root is gone: waiting for it to come back");
    this.#episode = true;
    this.#retryMs = this.#options.firstRetryMs ?? FIRST_RETRY_MS;
    this.#scheduleCatchUp();
  }

  #tryRoot(): void {
    if (this.#fs.reopenRoot && !this.#fs.reopenRoot()) return;
    let wd: number | null;
    try {
      wd = this.#fs.watchDirectory("/");
    } catch (error) {
      this.#fail("watch", "/", error);
      return;
    }
    if (wd === null) return;
    this.#startRoot(wd, this.#initialCandidates !== null || this.#startupMissed.has("/"));
    this.#options.log("notice", `watching the cgroup root (${this.trackedCgroups} cgroups)`);
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
        this.#options.log(
          "error",
          `inotify event for wd ${event.wd}: ${printableText(describe(error))}`,
        );
        overflow = true; // our picture may be incomplete: reconcile with the file system
      }
    }
    if (overflow) this.rescan();
    this.#endPass();
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
    if (this.#fs.rootReplaced?.()) this.#rootLost();
    else this.#reconcile(this.#root);
    this.#endPass();
  }

  /** Shutdown: pending deletions are dropped, watches and timers released. */
  close(): void {
    this.#closed = true;
    if (this.#retryTimer !== null) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
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
    // Paths as log text (printable): they leave the daemon as JSON text.
    const view: CgroupTrackerView = { scopes: [], cgroups: [] };
    const present = new Set<string>();
    this.#forEachNode((node) => {
      if (node.kind === "scope") present.add(node.path);
      if (node.kind === "cgroup") {
        view.cgroups.push({
          path: printable(node.path),
          everPopulated: node.seenPopulated,
          queued: node.queued,
          busyRetries: node.busy,
        });
      }
    });
    view.scopes = [...this.#scopes].map((path) => ({
      path: printable(path),
      present: present.has(path),
    }));
    return view;
  }

  /** inspect()'s counts without the lists (STATUS= asks every second). */
  summary(): { cgroups: number; awaitingDeletion: number } {
    const sum = { cgroups: 0, awaitingDeletion: 0 };
    this.#forEachNode((node) => {
      if (node.kind === "cgroup") {
        sum.cgroups++;
        if (node.queued || node.busy > 0) sum.awaitingDeletion++;
      }
    });
    return sum;
  }

  /** Every node, parents before children (explicit stack: any depth). */
  #forEachNode(fn: (node: Node) => void): void {
    const stack = this.#root ? [this.#root] : [];
    while (stack.length > 0) {
      const node = stack.pop()!;
      fn(node);
      for (const child of node.children.values()) stack.push(child);
    }
  }

  #handleEvent(event: WatchEvent): void {
    if (event.wd === this.#rootParent?.wd) {
      if (event.name !== this.#rootParent.rootName || !(event.mask & IN_ISDIR)) return;
      if (event.mask & (IN_DELETE | IN_MOVED_FROM)) {
        if (this.#root) this.#rootLost();
      } else if (!this.#root) {
        this.catchUp(); // made again: watch it now, not at the next retry
      }
      return;
    }
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
      } else if (node === this.#root) {
        this.#rootLost();
      }
    }
  }

  #classify(parent: Node, path: string): Kind | null {
    if (this.#scopes.has(path)) return "scope";
    if (parent.kind !== "ancestor") return "cgroup";
    return this.#wanted.get(parent.path)?.has(pathComponents(path).at(-1)!) ? "ancestor" : null;
  }

  /**
   * Registers parent/name (and everything below it) if it matters. A
   * failure skips that subtree only, and the parent is then not known to be
   * childless until a catch-up pass registers it.
   */
  #attach(parent: Node, name: string, initial: boolean): void {
    const node = this.#register(parent, name, initial);
    if (node) this.#walk(node, node.initial, true);
  }

  /** Registers everything below node (node itself is registered already). */
  #scanChildren(node: Node, initial: boolean): void {
    this.#walk(node, initial, false);
  }

  /**
   * Depth first with an explicit stack, not recursion: a workload may nest
   * cgroups deeper than the JS stack. A directory is finished (considered
   * for reaping, or noted as a start-up candidate) after its children.
   */
  #walk(top: Node, initial: boolean, finishTop: boolean): void {
    const stack: ScanFrame[] = [
      { node: top, initial, names: this.#childNames(top, initial), finish: finishTop },
    ];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const next = frame.node.dropped ? null : frame.names.next();
      if (next === null || next.done) {
        stack.pop();
        if (frame.finish) this.#finish(frame.node);
        continue;
      }
      try {
        const child = this.#register(frame.node, next.value, frame.initial);
        if (child) {
          const names = this.#childNames(child, child.initial);
          stack.push({ node: child, initial: child.initial, names, finish: true });
        }
      } catch (error) {
        this.#fail("watch", childPath(frame.node.path, next.value), error);
        frame.node.incomplete = true;
      }
    }
  }

  /** The children to register below node; none (and a failure noted) if unlistable. */
  #childNames(node: Node, initial: boolean): Iterator<string> {
    if (node.kind === "ancestor") return (this.#wanted.get(node.path) ?? new Set()).values();
    try {
      return this.#fs.subdirectories(node.path)[Symbol.iterator]();
    } catch (error) {
      this.#fail("list", node.path, error);
      node.incomplete = true;
      if (initial) this.#startupMissed.add(node.path);
      return [][Symbol.iterator]();
    }
  }

  #finish(node: Node): void {
    if (node.kind !== "cgroup" || node.dropped) return;
    if (this.#initialCandidates && node.initial) {
      this.#initialCandidates.push(node); // reapInitial() decides once the daemon is ready
    } else {
      this.#consider(node);
    }
  }

  /** Watches parent/name and makes its node, without its children; null if it does not matter. */
  #register(parent: Node, name: string, initial: boolean): Node | null {
    if (parent.children.has(name)) return null;
    const path = childPath(parent.path, name);
    const kind = this.#classify(parent, path);
    if (kind === null) return null;
    initial ||= this.#startupMissed.has(path);
    let wd: number | null;
    try {
      wd = this.#fs.watchDirectory(path);
    } catch (error) {
      this.#fail("watch", path, error);
      parent.incomplete = true;
      if (initial) this.#startupMissed.add(path);
      return null;
    }
    if (wd === null) return null;
    const stale = this.#byWd.get(wd);
    if (stale) {
      // The same inode under another name cannot happen on cgroupfs (no
      // renames); a leftover from a missed deletion can. Start afresh.
      this.#drop(stale);
      if (parent.dropped) return null;
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
    if (kind === "cgroup" && !this.#openEvents(node)) return null;
    return node;
  }

  /** Opens cgroup.events; false if the cgroup is gone (then dropped). A failure keeps it. */
  #openEvents(node: Node): boolean {
    try {
      const events = this.#fs.openEvents(node.path);
      if (events === null) {
        this.#drop(node);
        return false;
      }
      node.events = events;
    } catch (error) {
      this.#fail("events", node.path, error); // kept: populated reads "unknown"
    }
    return true;
  }

  /** Reaps the cgroup if it is empty, childless and (decision 10) was used. */
  #consider(node: Node): void {
    if (node.kind !== "cgroup" || node.dropped) return;
    if (node.queued) {
      // Waiting for a retried deletion: a process moving in starts a new
      // population, to be billed when it ends.
      if (node.accounted && node.events >= 0) this.#readEmpty(node);
      return;
    }
    if (node.children.size > 0 || node.incomplete) return;
    if (!this.#readEmpty(node)) return;
    if (node.accounted) {
      // Reaped already in this population; only the deletion is retried.
      this.#queueDeletion(node, null);
    } else if (!node.initial && !node.seenPopulated) {
      const used = this.#fs.showsUse(node.path);
      if (used === null) {
        this.#fail("evidence", node.path, "unreadable");
        return;
      }
      if (!used) return;
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
    switch (this.#fs.populated(node.events)) {
      case "no":
        return true;
      case "yes":
        node.seenPopulated = true;
        node.busy = 0;
        node.accounted = false; // a new population, to be accounted when it ends
        return false;
      case "unknown": // cannot know: keep it, never take it for empty
        this.#fail("populated", node.path, node.events < 0 ? "not open" : "read failed");
        return false;
      default:
        return false; // gone; its deletion event follows
    }
  }

  #reap(node: Node, afterShowsUse: boolean): void {
    if (node.retryTimer !== null) {
      this.#timers.clearTimeout(node.retryTimer);
      node.retryTimer = null;
    }
    // One fd per cgroup: the hook's directory fd replaces cgroup.events
    // (reopened should the reap be put off or the deletion fail), and it is
    // closed first so that a process at its fd limit can still reap.
    if (node.events >= 0) this.#fs.closeEvents(node.events);
    node.events = -1;
    const snapshot = this.#fs.snapshot(node.path, afterShowsUse);
    const { cgroup, problems } = snapshot;
    if (!snapshot.complete) {
      // Deleting it now would lose its accounting for good: keep and retry
      // (the catch-up pass opens cgroup.events again).
      if (cgroup.dirFd !== null) this.#fs.closeFd(cgroup.dirFd);
      this.counters.accountingDeferred++;
      this.#fail("accounting", node.path, problems.join("; ") || "unreadable");
      return;
    }
    if ((snapshot.subdirectories ?? 0) > 0) {
      // The kernel counts subdirectories we have not registered (yet): not
      // childless. Their creation events or the catch-up pass bring them.
      if (cgroup.dirFd !== null) this.#fs.closeFd(cgroup.dirFd);
      node.incomplete = true;
      this.#openEvents(node);
      this.#scheduleCatchUp();
      return;
    }
    for (const problem of problems) {
      this.#options.log("error", `'${printable(node.path)}': ${printableText(problem)}`);
    }
    const suffix = printable(statsSuffix(node.path, node.scope));
    const line = formatStatsLine(suffix, cgroup, cgroup.takenAt);
    if (line !== null) {
      try {
        this.#options.writeStatsLine(line, cgroup);
      } catch {
        // stderr gone (EPIPE): the reap and the deletion still go ahead
      }
    }
    this.counters.reaped++;
    node.accounted = true;
    let result: Promise<boolean>;
    try {
      result = this.#hook.cgroupReleased(cgroup);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.catch((error) => {
      this.#options.log(
        "error",
        `cgroup_released('${printable(node.path)}'): ${printableText(describe(error))}`,
      );
    });
    this.#queueDeletion(node, cgroup.dirFd);
  }

  #queueDeletion(node: Node, dirFd: number | null): void {
    node.queued = true;
    this.#queue.add(node.path, { node, dirFd });
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
      return;
    }
    // Still there: watch it again (repopulated, a child appeared, or an error).
    if (node.events < 0 && !this.#openEvents(node)) return;
    this.#scanChildren(node, false);
    if (node.dropped || node.children.size > 0) return;
    if (r !== -Errno.EBUSY && node.busy === 0) {
      this.#options.log(
        "error",
        `Failed to delete '${printable(path)}': ${this.#fs.describeErrno(-r)}; retrying`,
      );
    }
    node.busy++;
    const backoff = Math.min(
      (this.#options.deletionDelayMs ?? 50) * 2 ** (node.busy - 1),
      this.#options.maxBusyBackoffMs ?? 30_000,
    );
    if (node.busy === 1 && r === -Errno.EBUSY) {
      this.#consider(node);
    } else {
      node.retryTimer = this.#timers.setTimeout(() => {
        node.retryTimer = null;
        this.#guard(`'${printable(node.path)}'`, () => this.#consider(node));
      }, backoff);
    }
  }

  #closeDirFd(pending: Pending): void {
    if (pending.dirFd !== null) this.#fs.closeFd(pending.dirFd);
    pending.dirFd = null;
  }

  /** Forgets a node and everything below it (the directory is gone). */
  #drop(top: Node): void {
    if (top.dropped) return;
    const stack = [top];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.dropped) continue;
      node.dropped = true;
      for (const child of node.children.values()) stack.push(child);
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
    }
    if (top.parent?.children.get(top.name) === top) top.parent.children.delete(top.name);
  }

  /** Reconciles the subtree with the file system (explicit stack, like #walk). */
  #reconcile(top: Node): void {
    const stack: { node: Node; names: Iterator<string> }[] = [];
    const open = (node: Node) => {
      const names = this.#reconcileStart(node);
      if (names) stack.push({ node, names });
    };
    open(top);
    while (stack.length > 0) {
      const { node, names } = stack[stack.length - 1];
      const next = node.dropped ? null : names.next();
      if (next === null || next.done) {
        stack.pop();
        this.#consider(node);
        continue;
      }
      const name = next.value;
      try {
        const child = node.children.get(name);
        if (!child) {
          this.#attach(node, name, false);
          continue;
        }
        // Same wd = same inode; otherwise it was deleted and re-created.
        const wd = this.#fs.watchDirectory(child.path);
        if (wd === child.dirWd) {
          if (child.kind === "cgroup" && child.events < 0 && !child.queued) {
            if (!this.#openEvents(child)) continue;
          }
          open(child);
        } else {
          this.#drop(child);
          this.#attach(node, name, false);
        }
      } catch (error) {
        this.#fail("watch", childPath(node.path, name), error);
        node.incomplete = true;
      }
    }
  }

  /** Lists node, drops vanished children; the names to reconcile, or null. */
  #reconcileStart(node: Node): Iterator<string> | null {
    if (node.dropped) return null;
    let present: string[];
    if (node.kind === "ancestor") {
      present = [...(this.#wanted.get(node.path) ?? [])];
    } else {
      try {
        present = this.#fs.subdirectories(node.path);
      } catch (error) {
        this.#fail("list", node.path, error);
        node.incomplete = true;
        return null;
      }
      const onDisk = new Set(present);
      for (const child of [...node.children.values()]) {
        if (!onDisk.has(child.name)) this.#drop(child);
      }
    }
    node.incomplete = false; // set again by whatever still fails
    return present[Symbol.iterator]();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
