// The daemon on the real cgroup2 hierarchy (root): a private test root,
// the tracker served by the event loop in this process.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ReaperDaemon } from "../../reaper/daemon.ts";
import type { ReaperHook, ReleasedCgroup } from "../../reaper/hook.ts";
import { fstat } from "../../ffi/fd.ts";
import { kill } from "../../ffi/process.ts";
import { CANNOT_RUN, sleep, subdirectories, TestCgroupRoot, waitFor } from "./cgroup_fixture.ts";

const SCOPE = "/system.slice/system-cm4all.slice/bp-spawn.scope";

interface Harness {
  cg: TestCgroupRoot;
  daemon: ReaperDaemon;
  lines: string[];
  logs: string[];
  released: ReleasedCgroup[];
  /** dir fd was open (and the right directory) when the hook ran */
  fdOk: boolean[];
}

async function withDaemon(
  body: (h: Harness) => Promise<void>,
  options: {
    scopes?: string[];
    prepare?: (cg: TestCgroupRoot) => Promise<void> | void;
    deletionDelayMs?: number;
  } = {},
): Promise<void> {
  const cg = new TestCgroupRoot();
  const lines: string[] = [];
  const logs: string[] = [];
  const released: ReleasedCgroup[] = [];
  const fdOk: boolean[] = [];
  const hook: ReaperHook = {
    cgroupReleased(c) {
      released.push(c);
      try {
        fdOk.push(
          c.dirFd !== null && fstat(c.dirFd).ino === BigInt(Deno.statSync(cg.abs(c.path)).ino!),
        );
      } catch {
        fdOk.push(false);
      }
      return Promise.resolve(true);
    },
    reload() {},
    close: () => Promise.resolve(),
  };
  let daemon: ReaperDaemon | null = null;
  try {
    await options.prepare?.(cg);
    daemon = new ReaperDaemon({
      root: cg.path,
      scopes: options.scopes ?? [SCOPE],
      hook,
      writeStatsLine: (line) => lines.push(line),
      log: (priority, message) => logs.push(`${priority}: ${message}`),
      deletionDelayMs: options.deletionDelayMs,
    });
    daemon.start();
    const running = daemon.run();
    try {
      await body({ cg, daemon, lines, logs, released, fdOk });
    } catch (error) {
      throw new Error(
        `${error}\nlog:\n${logs.slice(0, 20).join("\n")}\nreleased ${released.length}`,
      );
    }
    await daemon.stop();
    await running;
  } finally {
    await daemon?.stop();
    await cg.cleanup();
  }
  assertEquals(logs.filter((l) => l.startsWith("error")), [], "no error lines");
}

const opts = { ignore: CANNOT_RUN, sanitizeResources: false };

Deno.test({
  name: "a process in a new cgroup exits: one stats line with cpu=, hook called, directory gone",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      h.cg.mkdir(`${SCOPE}/job-1`);
      await sleep(20);
      await h.cg.runIn(`${SCOPE}/job-1`, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
      await waitFor(() => !h.cg.exists(`${SCOPE}/job-1`), "job-1 to be removed");
      assertEquals(h.lines.length, 1);
      assertMatch(h.lines[0], /^job-1: cpu=\d+\.\ds\/\d+\.\ds\/\d+\.\ds(\[\d+%\])?$/);
      assertEquals(h.released.map((c) => c.path), [`${SCOPE}/job-1`]);
      assert(h.fdOk[0], "the hook got an open fd of the cgroup directory");
      assert((h.released[0].stats.cpuTotal ?? 0) > 0, "cpu time was accounted");
      assert(h.cg.exists(SCOPE), "the scope stays");
    }, { prepare: (cg) => cg.mkdir(SCOPE) }),
});

Deno.test({
  name: "nested cgroups are reaped child first, then the parent",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      h.cg.mkdir(`${SCOPE}/p/c`);
      await sleep(20);
      await h.cg.runIn(`${SCOPE}/p/c`);
      await waitFor(() => !h.cg.exists(`${SCOPE}/p`), "p to be removed");
      assertEquals(h.released.map((c) => c.path), [`${SCOPE}/p/c`, `${SCOPE}/p`]);
      assertEquals(h.lines.map((l) => l.split(":")[0]), ["p/c", "p"]);
    }, { prepare: (cg) => cg.mkdir(SCOPE) }),
});

Deno.test({
  name: "a cgroup repopulated before the 50 ms deletion survives and is reaped later",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      const job = `${SCOPE}/again`;
      h.cg.mkdir(job);
      await sleep(20);
      await h.cg.runIn(job);
      await waitFor(() => h.released.length === 1, "the first reap");
      const sleeper = h.cg.spawnIn(job, "exec sleep 0.4"); // within the deletion delay
      try {
        await waitFor(
          () => Deno.readTextFileSync(h.cg.abs(job) + "/cgroup.procs").trim() !== "",
          "the second process",
          2000,
          1,
        );
        await sleep(250);
        assert(h.cg.exists(job), "rmdir met EBUSY: the cgroup survives");
        assertEquals(h.released.length, 1);
      } finally {
        await sleeper.status;
      }
      await waitFor(() => !h.cg.exists(job), "the second reap and removal");
      assertEquals(h.released.map((c) => c.path), [job, job]);
    }, { prepare: (cg) => cg.mkdir(SCOPE), deletionDelayMs: 200 }), // room to repopulate
});

Deno.test({
  name: "cgroups outside the scopes are never touched",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      h.cg.mkdir("/system.slice/other.service/x");
      h.cg.mkdir("/system.slice/system-cm4all.slice/lukko-spawn.scope/y");
      h.cg.mkdir("/outside");
      await sleep(20);
      await h.cg.runIn("/system.slice/other.service/x");
      await h.cg.runIn("/system.slice/system-cm4all.slice/lukko-spawn.scope/y");
      await h.cg.runIn("/outside");
      await sleep(300);
      assertEquals(h.released.length, 0);
      assert(h.cg.exists("/system.slice/other.service/x"));
      assert(h.cg.exists("/system.slice/system-cm4all.slice/lukko-spawn.scope/y"));
      assert(h.cg.exists("/outside"));
      assert(h.cg.exists("/system.slice/other.service/empty-at-start"));
    }, { prepare: (cg) => cg.mkdir("/system.slice/other.service/empty-at-start") }),
});

Deno.test({
  name: "a scope created after start-up is watched, and again after re-creation",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      h.cg.mkdir(`${SCOPE}/late`);
      await sleep(30);
      await h.cg.runIn(`${SCOPE}/late`);
      await waitFor(() => !h.cg.exists(`${SCOPE}/late`), "late to be removed");
      Deno.removeSync(h.cg.abs(SCOPE));
      await sleep(30);
      h.cg.mkdir(`${SCOPE}/later`);
      await sleep(30);
      await h.cg.runIn(`${SCOPE}/later`);
      await waitFor(() => !h.cg.exists(`${SCOPE}/later`), "later to be removed");
      assertEquals(h.released.map((c) => c.path), [`${SCOPE}/late`, `${SCOPE}/later`]);
    }),
});

Deno.test({
  name: "empty cgroups at start-up are reaped; fresh never-populated ones later are not",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      await waitFor(() => !h.cg.exists(`${SCOPE}/old/inner`), "old/inner removed", 5000);
      await waitFor(() => !h.cg.exists(`${SCOPE}/old`), "old removed", 5000);
      assert(h.cg.exists(`${SCOPE}/running`), "populated at start-up: kept");
      h.cg.mkdir(`${SCOPE}/fresh/deeper`);
      await sleep(400);
      assert(h.cg.exists(`${SCOPE}/fresh/deeper`), "never populated: kept");
      assertEquals(h.released.map((c) => c.path).sort(), [
        `${SCOPE}/old`,
        `${SCOPE}/old/inner`,
        `${SCOPE}/unused`,
      ]);
    }, {
      prepare: async (cg) => {
        cg.mkdir(`${SCOPE}/old/inner`);
        cg.mkdir(`${SCOPE}/unused`);
        cg.mkdir(`${SCOPE}/running`);
        cg.spawnIn(`${SCOPE}/running`, "exec sleep 30");
        await waitFor(
          () => Deno.readTextFileSync(cg.abs(`${SCOPE}/running/cgroup.procs`)).trim() !== "",
          "sleeper",
        );
      },
    }),
});

Deno.test({
  name: "a cgroup that ran and emptied before the daemon saw it is reaped (start-up race)",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const released: string[] = [];
    const daemon = new ReaperDaemon({
      root: cg.path,
      scopes: ["/s"],
      hook: {
        cgroupReleased: (c) => (released.push(c.path), Promise.resolve(true)),
        reload() {},
        close: () => Promise.resolve(),
      },
      writeStatsLine: () => {},
      log: () => {},
    });
    try {
      cg.mkdir("/s");
      daemon.start(); // watches set up, but no event is handled before run()
      cg.mkdir("/s/quick");
      await cg.runIn("/s/quick");
      cg.mkdir("/s/fresh");
      const running = daemon.run();
      await waitFor(() => !cg.exists("/s/quick"), "quick to be removed");
      await sleep(200);
      assert(cg.exists("/s/fresh"));
      assertEquals(released, ["/s/quick"]);
      await daemon.stop();
      await running;
    } finally {
      await daemon.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "storm: 2,000 processes in 2,000 new cgroups exit at once, zero cgroups left",
  ...opts,
  fn: () =>
    withDaemon(async (h) => {
      const N = 2000;
      const scope = h.cg.abs(SCOPE);
      // One launcher in its own process group starts every sleeper; a single
      // kill(-pgid) then ends them all at once. Half the cgroups are made by
      // the launcher right before the process moves in (the mkdir race).
      const script = `
        i=0
        while [ $i -lt ${N} ]; do
          d="${scope}/c$i"
          if [ $((i % 2)) -eq 1 ]; then mkdir "$d"; fi
          sh -c "echo \\$\\$ > $d/cgroup.procs && exec sleep 1000" &
          i=$((i+1))
        done
        wait`;
      for (let i = 0; i < N; i += 2) Deno.mkdirSync(`${scope}/c${i}`);
      const launcher = new Deno.Command("setsid", {
        args: ["sh", "-c", script],
        stdin: "null",
        stdout: "null",
      }).spawn();
      try {
        await waitFor(
          () => {
            let populated = 0;
            for (let i = 0; i < N; i++) {
              try {
                if (Deno.readTextFileSync(`${scope}/c${i}/cgroup.procs`) !== "") populated++;
              } catch { /* not made yet */ }
            }
            return populated === N;
          },
          "all sleepers in their cgroups",
          120_000,
          200,
        );
        assertEquals(h.released.length, 0, "nothing reaped while populated");
      } finally {
        kill(-launcher.pid, 9);
        await launcher.status;
      }
      try {
        await waitFor(() => subdirectories(scope).length === 0, "every cgroup removed", 60_000, 50);
      } catch (error) {
        const left = subdirectories(scope).slice(0, 5).map((name) => {
          const events = Deno.readTextFileSync(`${scope}/${name}/cgroup.events`).replace(
            /\n/g,
            " ",
          );
          const cpu = Deno.readTextFileSync(`${scope}/${name}/cpu.stat`).split("\n")[0];
          return `${name}: ${events} ${cpu}`;
        });
        throw new Error(`${error}; ${subdirectories(scope).length} left, e.g. ${left.join("; ")}`);
      }
      assertEquals(h.released.length, N);
      assertEquals(new Set(h.released.map((c) => c.path)).size, N);
      assertEquals(h.lines.length, N);
    }, { prepare: (cg) => cg.mkdir(SCOPE) }),
});

Deno.test({
  name: "a real inotify queue overflow triggers a rescan that catches up",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const released: string[] = [];
    const logs: string[] = [];
    const daemon = new ReaperDaemon({
      root: cg.path,
      scopes: ["/s"],
      hook: {
        cgroupReleased: (c) => (released.push(c.path), Promise.resolve(true)),
        reload() {},
        close: () => Promise.resolve(),
      },
      writeStatsLine: () => {},
      log: (priority, message) => logs.push(`${priority}: ${message}`),
    });
    try {
      cg.mkdir("/s");
      daemon.start(); // no event is read before run(): the queue fills up
      const max = Number(Deno.readTextFileSync("/proc/sys/fs/inotify/max_queued_events"));
      for (let i = 0; i <= max / 2 + 10; i++) {
        Deno.mkdirSync(cg.abs(`/s/tmp${i}`));
        Deno.removeSync(cg.abs(`/s/tmp${i}`));
      }
      // Their events are lost: only the rescan can find these.
      cg.mkdir("/s/used");
      await cg.runIn("/s/used");
      cg.mkdir("/s/fresh");
      const running = daemon.run();
      await waitFor(() => !cg.exists("/s/used"), "used to be removed after the rescan");
      await sleep(200);
      assert(cg.exists("/s/fresh"), "never populated: kept");
      assertEquals(released, ["/s/used"]);
      assert(
        logs.some((l) => l.startsWith("warning") && l.includes("rescanning")),
        logs.join("\n"),
      );
      await daemon.stop();
      await running;
    } finally {
      await daemon.stop();
      await cg.cleanup();
    }
  },
});
