// CgroupTracker.inspect(), what `cm4all-spawnctl reaper` shows of the
// tracker: scopes present or absent, each cgroup and whether it was ever
// populated, and what awaits deletion (queued, or EBUSY retries). On the
// in-memory hierarchy of the tracker tests (no root needed).
import { assertEquals } from "../assert.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { setupTracker } from "../reaper/tracker_harness.ts";

const A = "/system.slice/a.scope";
const B = "/system.slice/b.scope";

Deno.test("inspect: scopes, cgroups, queued and EBUSY deletions", () => {
  const { fs, tracker, settle } = setupTracker({
    scopes: [A, B],
    prepare: (fs) => {
      fs.mkdir(A);
      fs.drain();
    },
  });
  const view = () => {
    const v = tracker.inspect();
    v.cgroups.sort((x, y) => x.path < y.path ? -1 : 1);
    return v;
  };
  tracker.start();
  tracker.reapInitial();
  assertEquals(view(), {
    scopes: [{ path: A, present: true }, { path: B, present: false }],
    cgroups: [],
  });

  fs.mkdir(`${A}/fresh`);
  fs.mkdir(`${A}/busy`);
  fs.setPopulated(`${A}/busy`, true);
  fs.mkdir(`${A}/done`);
  settle();
  // Populated and empty again before the tracker looked: reaped on the
  // evidence of use (cpu.stat), never seen populated; its deletion is queued.
  fs.run(`${A}/done`);
  const events = fs.drain();
  tracker.handleEvents(events);
  assertEquals(tracker.summary(), { cgroups: 3, awaitingDeletion: 1 });
  assertEquals(view().cgroups, [
    { path: `${A}/busy`, everPopulated: true, queued: false, busyRetries: 0 },
    { path: `${A}/done`, everPopulated: false, queued: true, busyRetries: 0 },
    { path: `${A}/fresh`, everPopulated: false, queued: false, busyRetries: 0 },
  ]);
  settle(1000);
  assertEquals(view().cgroups.map((c) => c.path), [`${A}/busy`, `${A}/fresh`], "done deleted");

  fs.mkdir(`${A}/stuck`);
  settle();
  fs.rmdirErrors.set(`${A}/stuck`, Errno.EBUSY);
  fs.setPopulated(`${A}/stuck`, true);
  settle();
  fs.setPopulated(`${A}/stuck`, false);
  settle(300);
  const stuck = view().cgroups.find((c) => c.path === `${A}/stuck`)!;
  assertEquals(stuck.everPopulated, true);
  assertEquals(stuck.busyRetries > 1, true, `busy retries ${stuck.busyRetries}`);
  assertEquals(tracker.summary(), { cgroups: 3, awaitingDeletion: 1 }, "stuck awaits");
  tracker.close();
});
