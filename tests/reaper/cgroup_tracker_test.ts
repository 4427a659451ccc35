// The watch state machine on an in-memory hierarchy (no root needed).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { CgroupTracker } from "../../reaper/cgroup/tracker.ts";
import { FakeCgroupFs, FakeTimers } from "./fake_cgroup_fs.ts";
import { childPath } from "../../reaper/cgroup/path.ts";
import { Errno } from "../../ffi/errno_names.ts";

import { SCOPE, setupTracker as setup, type TrackerHarness } from "./tracker_harness.ts";

Deno.test("start-up scan reaps empty cgroups (even never-populated), children first", () => {
  const t = setup({
    prepare: (fs) => {
      fs.mkdir(`${SCOPE}/idle`);
      fs.mkdir(`${SCOPE}/busy`);
      fs.setPopulated(`${SCOPE}/busy`, true);
      fs.mkdir(`${SCOPE}/a/b`);
      fs.drain();
    },
  });
  t.tracker.start();
  assertEquals(t.released.length, 0, "nothing is reaped before reapInitial()");
  t.tracker.reapInitial();
  assertEquals(t.paths().sort(), [`${SCOPE}/a/b`, `${SCOPE}/idle`]);
  t.settle(50);
  assert(!t.fs.exists(`${SCOPE}/a/b`));
  assert(!t.fs.exists(`${SCOPE}/idle`));
  assertEquals(t.paths().at(-1), `${SCOPE}/a`, "the parent follows its last child");
  t.settle(50);
  assert(!t.fs.exists(`${SCOPE}/a`));
  assert(t.fs.exists(`${SCOPE}/busy`), "a populated cgroup stays");
  assert(t.fs.exists(SCOPE), "the scope itself is never deleted");
  assertEquals(t.fs.openFds.size, 0, "every dir fd closed after its rmdir");
});

Deno.test("a fresh cgroup is reaped only after it was populated and emptied", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/job`);
  t.settle(1000);
  assertEquals(t.released.length, 0, "never-populated: left alone");
  assert(t.fs.exists(`${SCOPE}/job`));
  t.fs.setPopulated(`${SCOPE}/job`, true);
  t.settle(1000);
  assertEquals(t.released.length, 0);
  t.fs.setPopulated(`${SCOPE}/job`, false);
  t.settle(0);
  assertEquals(t.paths(), [`${SCOPE}/job`]);
  assertEquals(t.lines, ["job: cpu=0.0s"]);
  assert(t.fs.exists(`${SCOPE}/job`), "deletion waits 50 ms");
  t.settle(49);
  assert(t.fs.exists(`${SCOPE}/job`));
  t.settle(1);
  assert(!t.fs.exists(`${SCOPE}/job`));
  assertEquals(t.tracker.trackedCgroups, 0);
  assertEquals(t.fs.watchCount, t.tracker.watches, "no watch leaks");
});

Deno.test("a cgroup that ran and emptied before registration is still reaped (usage evidence)", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/quick`);
  t.fs.run(`${SCOPE}/quick`); // before the daemon saw IN_CREATE
  t.settle(50);
  assertEquals(t.paths(), [`${SCOPE}/quick`]);
  assert(!t.fs.exists(`${SCOPE}/quick`));
});

Deno.test("a process moving in between the evidence and populated reads is no evidence", () => {
  // The kernel may charge a process's earlier CPU time to the cgroup it just
  // moved into: usage > 0 right after the move. Reading usage after
  // populated would see "populated 0" + "usage > 0" and reap a full cgroup.
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const job = `${SCOPE}/job`;
  let reads = 0;
  t.fs.beforeRead = () => {
    if (++reads === 2) t.fs.setPopulated(job, true); // between the two reads of one check
  };
  t.fs.mkdir(job);
  t.settle(200);
  t.fs.beforeRead = () => {};
  assertEquals(t.released.length, 0, "not reaped while its process runs");
  assert(t.fs.exists(job));
  t.fs.setPopulated(job, false);
  t.settle(100);
  assertEquals(t.paths(), [job]);
});

Deno.test("a cgroup repopulated before its deletion survives and is reaped later", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const job = `${SCOPE}/job`;
  t.fs.mkdir(job);
  t.settle();
  t.fs.run(job);
  t.settle(10);
  assertEquals(t.released.length, 1);
  t.fs.setPopulated(job, true);
  t.settle(100);
  assert(t.fs.exists(job), "EBUSY: still there");
  assertEquals(t.released.length, 1);
  t.fs.setPopulated(job, false);
  t.settle(100);
  assertEquals(t.paths(), [job, job], "reaped again: second handler call");
  assert(!t.fs.exists(job));
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("nested cgroups: parent waits for its last child", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/p/c1`);
  t.fs.mkdir(`${SCOPE}/p/c2`);
  t.settle();
  t.fs.setPopulated(`${SCOPE}/p/c1`, true);
  t.fs.setPopulated(`${SCOPE}/p/c2`, true);
  t.settle();
  t.fs.setPopulated(`${SCOPE}/p/c1`, false);
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/p/c1`]);
  t.fs.setPopulated(`${SCOPE}/p/c2`, false);
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/p/c1`, `${SCOPE}/p/c2`, `${SCOPE}/p`]);
  t.settle(100);
  assert(!t.fs.exists(`${SCOPE}/p`));
  assertEquals(t.lines, ["p/c1: cpu=0.0s", "p/c2: cpu=0.0s", "p: cpu=0.0s"]);
});

Deno.test("cgroups outside the scopes are never touched", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir("/system.slice/other.service/x");
  t.fs.mkdir("/system.slice/system-cm4all.slice/other.scope/y");
  t.fs.run("/system.slice/other.service/x");
  t.fs.run("/system.slice/system-cm4all.slice/other.scope/y");
  t.settle(1000);
  assertEquals(t.released.length, 0);
  assertEquals(t.fs.rmdirCalls, []);
});

Deno.test("a scope that appears late is watched, and again after re-creation", () => {
  const t = setup();
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/early`); // scope and all its ancestors appear at once
  t.settle();
  t.fs.run(`${SCOPE}/early`);
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/early`]);
  assert(!t.fs.exists(`${SCOPE}/early`));

  t.fs.removeExternally(SCOPE);
  t.settle();
  t.fs.mkdir(`${SCOPE}/again`);
  t.settle();
  t.fs.run(`${SCOPE}/again`);
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/early`, `${SCOPE}/again`]);
});

Deno.test("a cgroup found under a late scope is not reaped without evidence", () => {
  const t = setup();
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.losing = true; // the scope's subtree appears before any event is seen
  t.fs.mkdir(`${SCOPE}/fresh`);
  t.fs.mkdir(`${SCOPE}/used`);
  t.fs.run(`${SCOPE}/used`);
  t.fs.losing = false;
  t.fs.overflow();
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/used`]);
  assert(t.fs.exists(`${SCOPE}/fresh`));
});

Deno.test("external deletion unregisters silently; its parent may follow", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/p/c`);
  t.settle();
  t.fs.run(`${SCOPE}/p/c`);
  t.fs.rmdirErrors.set(`${SCOPE}/p/c`, Errno.ENOENT);
  t.settle(0);
  assertEquals(t.paths(), [`${SCOPE}/p/c`]);
  t.fs.rmdirErrors.delete(`${SCOPE}/p/c`);
  t.fs.removeExternally(`${SCOPE}/p/c`);
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/p/c`, `${SCOPE}/p`]);
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("IN_Q_OVERFLOW rescans: lost creations, exits and deletions are caught up", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/known`);
  t.fs.mkdir(`${SCOPE}/gone`);
  t.settle();
  t.fs.setPopulated(`${SCOPE}/known`, true);
  t.settle();
  t.fs.losing = true;
  t.fs.setPopulated(`${SCOPE}/known`, false);
  t.fs.removeExternally(`${SCOPE}/gone`);
  t.fs.mkdir(`${SCOPE}/new`);
  t.fs.run(`${SCOPE}/new`);
  t.fs.overflow();
  t.settle(100);
  assertEquals(t.paths().sort(), [`${SCOPE}/known`, `${SCOPE}/new`]);
  assertEquals(t.tracker.trackedCgroups, 0);
  assert(t.logs.some((l) => l.includes("rescanning")));
});

Deno.test("deletion: one timer pushed back by each reap, deepest first", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  for (const name of ["a", "b", "c"]) t.fs.mkdir(`${SCOPE}/${name}`);
  t.settle();
  t.fs.run(`${SCOPE}/a`);
  t.settle(40);
  t.fs.run(`${SCOPE}/c`);
  t.settle(40);
  assertEquals(t.fs.rmdirCalls, [], "pushed back by the second reap");
  t.fs.run(`${SCOPE}/b`);
  t.settle(50);
  assertEquals(t.fs.rmdirCalls, [`${SCOPE}/c`, `${SCOPE}/b`, `${SCOPE}/a`]);
});

Deno.test("deletion is pushed back at most 1 s under a steady stream of reaps", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  for (let i = 0; i < 40; i++) t.fs.mkdir(`${SCOPE}/j${i}`);
  t.settle();
  for (let i = 0; i < 40; i++) {
    t.fs.run(`${SCOPE}/j${i}`);
    t.settle(30);
  }
  assert(t.fs.rmdirCalls.length > 0, "some deletions happened during the stream");
  t.settle(100);
  assertEquals(t.fs.rmdirCalls.length, 40);
});

/** A job cgroup that ran and whose rmdir keeps failing with EBUSY. */
function stuckJob(): { t: TrackerHarness; job: string } {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const job = `${SCOPE}/stuck`;
  t.fs.mkdir(job);
  t.settle();
  t.fs.rmdirErrors.set(job, Errno.EBUSY);
  t.fs.run(job);
  return { t, job };
}

Deno.test("rmdir EBUSY while empty retries with growing back-off, no busy loop", () => {
  const { t, job } = stuckJob();
  t.settle(1000);
  const inFirstSecond = t.fs.rmdirCalls.length;
  assert(inFirstSecond >= 3 && inFirstSecond <= 6, `attempts in 1 s: ${inFirstSecond}`);
  t.settle(10_000);
  const inElevenSeconds = t.fs.rmdirCalls.length;
  assert(inElevenSeconds - inFirstSecond <= 5, `attempts later: ${inElevenSeconds}`);
  t.fs.rmdirErrors.delete(job);
  t.settle(60_000);
  assert(!t.fs.exists(job));
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("other rmdir errors are logged once as Failed to delete", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const job = `${SCOPE}/denied`;
  t.fs.mkdir(job);
  t.settle();
  t.fs.rmdirErrors.set(job, Errno.EACCES);
  t.fs.run(job);
  t.settle(10_000);
  assertEquals(t.logs.filter((l) => l.includes("Failed to delete")), [
    `error: Failed to delete '${job}': errno ${Errno.EACCES}; retrying`,
  ]);
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("a new child makes rmdir EBUSY; the parent goes after that child, accounted once", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const p = `${SCOPE}/p`;
  t.fs.mkdir(p);
  t.settle();
  t.fs.run(p);
  t.settle(10);
  t.fs.mkdir(`${p}/late`);
  t.settle(100);
  assert(t.fs.exists(p), "EBUSY because of the child");
  t.fs.run(`${p}/late`);
  t.settle(200);
  assert(!t.fs.exists(p));
  // p's hook ran once: its population did not change (issue 14 item 7)
  assertEquals(t.paths(), [p, `${p}/late`]);
});

Deno.test("close() drops pending deletions and releases watches", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/x`);
  t.settle();
  t.fs.run(`${SCOPE}/x`);
  t.settle(10);
  t.tracker.close();
  t.settle(100);
  assert(t.fs.exists(`${SCOPE}/x`), "pending deletion dropped");
  assertEquals(t.fs.watchCount, 0);
  assertEquals(t.fs.openFds.size, 0);
  assertEquals(t.timers.pending, 0);
});

Deno.test("a failing hook is logged; reaping and deletion carry on", async () => {
  const fs = new FakeCgroupFs();
  fs.mkdir(`${SCOPE}/a`);
  fs.mkdir(`${SCOPE}/b`);
  const timers = new FakeTimers();
  const logs: string[] = [];
  let calls = 0;
  const tracker = new CgroupTracker({
    fs,
    scopes: [SCOPE],
    hook: {
      cgroupReleased: (c) => {
        calls++;
        if (c.path.endsWith("/a")) throw new Error("sync boom");
        return Promise.reject(new Error("async boom"));
      },
      reload: () => {},
      close: () => Promise.resolve(),
    },
    writeStatsLine: () => {},
    log: (priority, message) => logs.push(`${priority}: ${message}`),
    timers,
  });
  tracker.start();
  tracker.reapInitial();
  await Promise.resolve();
  timers.advance(50);
  assertEquals(calls, 2);
  assert(!fs.exists(`${SCOPE}/a`) && !fs.exists(`${SCOPE}/b`));
  assertEquals(logs.sort(), [
    `error: cgroup_released('${SCOPE}/a'): sync boom`,
    `error: cgroup_released('${SCOPE}/b'): async boom`,
  ]);
});

Deno.test("no stats line when nothing is known, but the hook is still called", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(`${SCOPE}/x`) });
  const original = t.fs.snapshot.bind(t.fs);
  t.fs.snapshot = (path) => {
    const s = original(path);
    s.cgroup.stats.cpuTotal = null;
    return s;
  };
  t.tracker.start();
  t.tracker.reapInitial();
  assertEquals(t.paths(), [`${SCOPE}/x`]);
  assertEquals(t.lines, []);
  t.settle(50);
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("an exception while deleting one cgroup is logged; the others are deleted", () => {
  const t = setup({
    prepare: (fs) => {
      for (const name of ["a", "b", "c"]) fs.mkdir(`${SCOPE}/${name}`);
    },
  });
  const rmdir = t.fs.rmdir.bind(t.fs);
  t.fs.rmdir = (path) => {
    if (path.endsWith("/b")) throw new Error("unexpected");
    return rmdir(path);
  };
  t.tracker.start();
  t.tracker.reapInitial();
  t.settle(50);
  assert(!t.fs.exists(`${SCOPE}/a`) && !t.fs.exists(`${SCOPE}/c`));
  assertEquals(t.logs, [`error: deleting '${SCOPE}/b': unexpected`]);
  assertEquals(t.fs.openFds.size, 0, "its dir fd is closed all the same");
});

Deno.test("a batch of many changes below one parent gives the fs one prepareChildren hint", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const jobs = Array.from({ length: 10 }, (_, i) => `${SCOPE}/job${i}`);
  for (const job of jobs) t.fs.mkdir(job);
  t.settle(0);
  for (const job of jobs) t.fs.setPopulated(job, true);
  t.settle(0);
  assertEquals(t.fs.prepared, [SCOPE], "one hint for ten changes in one batch");
  for (const job of jobs) t.fs.setPopulated(job, false);
  t.settle(0);
  assertEquals(t.fs.prepared, [SCOPE, SCOPE]);
  assertEquals(t.paths().sort(), [...jobs].sort());
  t.fs.mkdir(`${SCOPE}/single`);
  t.settle(0);
  t.fs.run(`${SCOPE}/single`);
  t.settle(50);
  assertEquals(t.fs.prepared.length, 2, "no hint for a single change");
  assertEquals(t.released.length, 11);
  assert(!t.fs.exists(`${SCOPE}/job0`));
});

Deno.test("snapshot() may reuse the usage evidence only right after it was read", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(`${SCOPE}/quick`);
  t.fs.run(`${SCOPE}/quick`); // emptied before registration: evidence needed
  t.settle(0);
  t.fs.mkdir(`${SCOPE}/seen`);
  t.settle(0);
  t.fs.setPopulated(`${SCOPE}/seen`, true);
  t.settle(0);
  t.fs.setPopulated(`${SCOPE}/seen`, false); // populated 1 was seen: no evidence read
  t.settle(0);
  assertEquals(t.fs.snapshots, [[`${SCOPE}/quick`, true], [`${SCOPE}/seen`, false]]);
});

Deno.test("subtree_control changes and rescans reach the fs (controller files may change)", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(`${SCOPE}/job`) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.setPopulated(`${SCOPE}/job`, true);
  t.settle(0);
  t.fs.writeSubtreeControl(SCOPE);
  t.fs.writeSubtreeControl(`${SCOPE}/job`);
  t.settle(0);
  assertEquals(t.fs.controlsChangedCalls, [SCOPE, `${SCOPE}/job`]);
  t.fs.overflow();
  t.settle(0);
  assertEquals(t.fs.controlsChangedCalls, [SCOPE, `${SCOPE}/job`, null]);
  t.fs.setPopulated(`${SCOPE}/job`, false);
  t.settle(50);
  assert(!t.fs.exists(`${SCOPE}/job`));
  assertEquals(
    t.fs.controlsChangedCalls.at(-1),
    `${SCOPE}/job`,
    "a removed directory's knowledge is dropped (a new one may have other controls)",
  );
});

// ---- issue 14: what cannot be known is kept, retried, and logged once ----

Deno.test("accounting unreadable (EMFILE): kept, no stats line, no hook; billed once when it can be read", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const jobs = [1, 2, 3].map((i) => `${SCOPE}/job${i}`);
  for (const job of jobs) t.fs.mkdir(job);
  t.settle();
  let short = true;
  t.fs.failing.accounting = () => short;
  for (const job of jobs) t.fs.run(job);
  t.settle(30_000);
  for (const job of jobs) assert(t.fs.exists(job), `${job} kept while its accounting is unknown`);
  assertEquals(t.released.length, 0);
  assertEquals(t.lines.length, 0);
  const complaints = t.logs.filter((l) => l.includes("could not read the accounting"));
  assertEquals(complaints.length, 1, t.logs.join("\n"));
  assertMatch(complaints[0], /of 3 cgroups .*EMFILE.*kept, retrying/);
  assert(t.tracker.counters.accountingDeferred >= 3);
  short = false;
  t.settle(120_000);
  for (const job of jobs) assert(!t.fs.exists(job), `${job} reaped once readable`);
  assertEquals(t.paths().sort(), jobs);
  assert(t.released.every((c) => c.stats.cpuTotal !== null), "billed with values, not nil");
  assertEquals(t.logs.filter((l) => l.includes("caught up")).length, 1, t.logs.join("\n"));
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("cgroup.events that cannot be opened reads as unknown, never as empty", () => {
  const job = `${SCOPE}/running`;
  const t = setup({
    prepare: (fs) => {
      fs.mkdir(job);
      fs.setPopulated(job, true);
    },
  });
  let short = true;
  t.fs.failing.events = (p) => short && p === job;
  t.tracker.start();
  t.tracker.reapInitial();
  t.settle(10_000);
  assert(t.fs.exists(job), "a running cgroup is not released because its fd could not be opened");
  assertEquals(t.released.length, 0);
  short = false;
  t.settle(10_000); // the catch-up opens it
  assertEquals(t.released.length, 0, "still running");
  t.fs.setPopulated(job, false);
  t.settle(1000);
  assertEquals(t.paths(), [job]);
  assert(!t.fs.exists(job));
});

Deno.test("a populated read that fails keeps the cgroup (cannot know = keep)", () => {
  const job = `${SCOPE}/job`;
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  t.fs.mkdir(job);
  t.settle();
  let short = true;
  t.fs.failing.populated = (p) => short && p === job;
  t.fs.run(job);
  t.settle(5000);
  assert(t.fs.exists(job));
  assertEquals(t.released.length, 0);
  short = false;
  t.settle(10_000);
  assertEquals(t.paths(), [job]);
});

Deno.test("watches exhausted at start-up (ENOSPC): no exit, logged once with counts, caught up later", () => {
  const t = setup({
    prepare: (fs) => {
      for (let i = 0; i < 10; i++) fs.mkdir(`${SCOPE}/old${i}`);
      fs.mkdir(`${SCOPE}/parent/child`);
      fs.drain();
    },
  });
  let short = true;
  t.fs.failErrno = Errno.ENOSPC;
  t.fs.failing.watch = (p) => short && (/old[5-9]$/.test(p) || p.endsWith("/child"));
  t.tracker.start(); // must not throw
  t.tracker.reapInitial();
  t.settle(100);
  assertEquals(t.paths().sort(), [0, 1, 2, 3, 4].map((i) => `${SCOPE}/old${i}`));
  assert(
    t.fs.exists(`${SCOPE}/parent`),
    "a parent whose child could not be watched is not childless",
  );
  const complaints = t.logs.filter((l) => l.includes("could not register"));
  assertEquals(complaints.length, 1, t.logs.join("\n"));
  assertMatch(complaints[0], /could not register 6 cgroups .*ENOSPC/);
  t.settle(30_000); // still short: retried quietly
  assertEquals(t.logs.filter((l) => l.includes("could not register")).length, 1);
  short = false;
  t.settle(120_000);
  for (let i = 0; i < 10; i++) assert(!t.fs.exists(`${SCOPE}/old${i}`), `old${i}`);
  assert(!t.fs.exists(`${SCOPE}/parent`), "found at start-up: reaped once registered");
  assertEquals(t.released.length, 12);
  assertEquals(new Set(t.paths()).size, 12, "each once");
});

Deno.test("watches short while running: new cgroups are registered once watches free up", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  let short = true;
  t.fs.failErrno = Errno.ENOSPC;
  t.fs.failing.watch = () => short;
  const jobs = [0, 1, 2, 3].map((i) => `${SCOPE}/late${i}`);
  for (const job of jobs) t.fs.mkdir(job);
  t.settle();
  for (const job of jobs) t.fs.setPopulated(job, true);
  t.settle(5000);
  short = false;
  t.settle(60_000);
  assertEquals(t.released.length, 0, "registered, still running");
  for (const job of jobs) t.fs.setPopulated(job, false);
  t.settle(1000);
  assertEquals(t.paths().sort(), jobs);
  for (const job of jobs) assert(!t.fs.exists(job));
});

Deno.test("a subtree that cannot be listed is skipped alone; the rest is reaped", () => {
  const t = setup({
    prepare: (fs) => {
      fs.mkdir(`${SCOPE}/bad/deep`);
      fs.mkdir(`${SCOPE}/good`);
      fs.drain();
    },
  });
  t.fs.failErrno = Errno.ENAMETOOLONG;
  t.fs.failing.list = (p) => p === `${SCOPE}/bad`;
  t.tracker.start();
  t.tracker.reapInitial();
  t.settle(100);
  assertEquals(t.paths(), [`${SCOPE}/good`]);
  assert(t.fs.exists(`${SCOPE}/bad`), "not known to be childless");
  t.settle(600_000);
  assertEquals(t.logs.filter((l) => l.includes("could not list")).length, 1, t.logs.join("\n"));
  assertEquals(t.paths(), [`${SCOPE}/good`]);
});

Deno.test("EBUSY forever: the hook runs once per population, never again while it waits", () => {
  const { t, job } = stuckJob();
  t.settle(120_000);
  assert(t.fs.rmdirCalls.filter((p) => p === job).length > 3, "deletion retried");
  assertEquals(t.paths(), [job], "accounted once");
  assertEquals(t.lines.length, 1);
  // a new population is a new bill
  t.fs.setPopulated(job, true);
  t.settle(10);
  t.fs.setPopulated(job, false);
  t.settle(1000);
  assertEquals(t.paths(), [job, job]);
  t.fs.rmdirErrors.delete(job);
  t.settle(60_000);
  assert(!t.fs.exists(job));
  assertEquals(t.paths(), [job, job]);
  assertEquals(t.fs.openFds.size, 0);
});

Deno.test("names that are not UTF-8 (byte strings) are tracked and reaped exactly", () => {
  const t = setup({ prepare: (fs) => fs.mkdir(SCOPE) });
  t.tracker.start();
  t.tracker.reapInitial();
  const cafe = `${SCOPE}/caf\xe9`;
  const ff = `${SCOPE}/p/\xff\xfe`;
  t.fs.mkdir(cafe);
  t.fs.mkdir(ff);
  t.settle();
  t.fs.run(cafe);
  t.fs.run(ff);
  t.settle(1000);
  assertEquals(t.paths(), [cafe, ff, `${SCOPE}/p`]);
  assertEquals(t.lines.map((l) => l.split(":")[0]), ["caf\\xe9", "p/\\xff\\xfe", "p"]);
});

Deno.test("a chain nested 5,000 deep (recursion overflowed the JS stack there) is registered and reaped bottom-up", () => {
  const depth = 5_000;
  let leaf = `${SCOPE}/job`;
  const t = setup({
    prepare: (fs) => {
      fs.mkdir(leaf);
      for (let i = 0; i < depth; i++) {
        leaf = childPath(leaf, "a");
        fs.mkdirChild(leaf);
      }
      fs.mkdir(`${SCOPE}/other`);
      fs.drain();
    },
  });
  t.tracker.start();
  t.tracker.reapInitial();
  assertEquals(t.tracker.trackedCgroups, depth + 2);
  assertEquals(t.logs, []);
  for (let i = 0; i <= depth && t.fs.exists(`${SCOPE}/job`); i++) t.settle(50);
  assert(!t.fs.exists(`${SCOPE}/job`), "the whole chain deleted");
  assertEquals(t.released.length, depth + 2);
});
