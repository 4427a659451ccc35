// KernelCgroupFs on the real cgroup2 hierarchy (root): the kernel behaviour
// its shortcuts rely on, and the shortcuts themselves.
import { assert, assertEquals } from "../assert.ts";
import { KernelCgroupFs } from "../../reaper/cgroup/kernel_fs.ts";
import { closeSnapshot } from "../../reaper/cgroup/snapshot.ts";
import { IN_MODIFY } from "../../ffi/inotify.ts";
import { CANNOT_RUN, TestCgroupRoot } from "./cgroup_fixture.ts";

const opts = { ignore: CANNOT_RUN, sanitizeResources: false };
const OPTIONAL = ["memory.peak", "memory.events", "pids.peak", "pids.forks", "pids.events"];

Deno.test(
  "a write to cgroup.subtree_control is reported to the directory watch",
  opts,
  async () => {
    const cg = new TestCgroupRoot();
    const fs = new KernelCgroupFs(cg.path);
    try {
      cg.mkdir("/p/c");
      const wd = fs.watchDirectory("/p");
      assert(wd !== null);
      // Disabling a controller that is not enabled succeeds and changes nothing.
      const [controller] = Deno.readTextFileSync(cg.abs("/p/cgroup.controllers")).split(/\s+/);
      Deno.writeTextFileSync(cg.abs("/p/cgroup.subtree_control"), `-${controller || "memory"}`);
      const events = fs.readEvents();
      assert(
        events.some((e) =>
          e.wd === wd && (e.mask & IN_MODIFY) && e.name === "cgroup.subtree_control"
        ),
        `IN_MODIFY cgroup.subtree_control among ${JSON.stringify(events)}`,
      );
    } finally {
      fs.close();
      await cg.cleanup();
    }
  },
);

Deno.test(
  "snapshots learn absent optional files per parent and reuse the usage evidence",
  opts,
  async () => {
    const cg = new TestCgroupRoot();
    const fs = new KernelCgroupFs(cg.path);
    try {
      cg.mkdir("/s/a");
      cg.mkdir("/s/b");
      await cg.runIn("/s/a", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done");
      const absentHere = OPTIONAL.filter((name) => {
        try {
          Deno.statSync(cg.abs(`/s/a/${name}`));
          return false;
        } catch {
          return true;
        }
      }).sort();

      const usage = () =>
        Number(Deno.readTextFileSync(cg.abs("/s/a/cpu.stat")).match(/^usage_usec (\d+)$/m)![1]) /
        1e6;
      assert(fs.showsUse("/s/a"), "the shell ran in /s/a");
      const before = usage();
      await cg.runIn("/s/a", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done");
      assert(usage() > before);
      const first = fs.snapshot("/s/a", true);
      closeSnapshot(first);
      assertEquals(first.cgroup.stats.cpuTotal, before, "cpu.stat as showsUse() read it");
      const fresh = fs.snapshot("/s/a", true);
      closeSnapshot(fresh);
      assertEquals(fresh.cgroup.stats.cpuTotal, usage(), "the evidence is used once");
      assertEquals(first.problems, []);
      assertEquals(fs.absentFilesBelow("/s"), absentHere);

      const second = fs.snapshot("/s/b");
      closeSnapshot(second);
      assertEquals(second.cgroup.stats.cpuTotal, 0, "read, not reused: another path");
      assertEquals(fs.absentFilesBelow("/"), [], "learnt for the parent only");

      fs.controlsChanged("/s");
      assertEquals(fs.absentFilesBelow("/s"), []);
      const gone = fs.snapshot("/s/nonexistent");
      assertEquals(gone.cgroup.dirFd, null);
      assertEquals(fs.absentFilesBelow("/s"), [], "a vanished cgroup teaches nothing");
    } finally {
      fs.close();
      await cg.cleanup();
    }
  },
);
