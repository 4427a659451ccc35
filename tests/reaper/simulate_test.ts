// --simulate's core: one reap of a real cgroup as the daemon would do it.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { scopeOf, simulateRelease } from "../../reaper/simulate.ts";
import type { ReaperHook, ReleasedCgroup } from "../../reaper/hook.ts";
import { fstat } from "../../ffi/fd.ts";
import { CANNOT_RUN, TestCgroupRoot } from "./cgroup_fixture.ts";

Deno.test("scopeOf picks the deepest scope containing the path", () => {
  assertEquals(scopeOf("/a/b/c", ["/a", "/a/b", "/x"]), "/a/b");
  assertEquals(scopeOf("/a/b", ["/a/b"]), null, "a scope is not below itself");
  assertEquals(scopeOf("/q", ["/a"]), null);
});

Deno.test({
  name: "simulateRelease: stats line, one hook call with an open dir fd, nothing deleted",
  ignore: CANNOT_RUN,
  fn: async () => {
    const cg = new TestCgroupRoot();
    try {
      cg.mkdir("/s/job");
      await cg.runIn("/s/job", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
      for (const verdict of [true, false]) {
        const calls: ReleasedCgroup[] = [];
        let fdWasOpen = false;
        const hook: ReaperHook = {
          cgroupReleased: (c) => {
            calls.push(c);
            fdWasOpen = c.dirFd !== null &&
              fstat(c.dirFd).ino === BigInt(Deno.statSync(cg.abs("/s/job")).ino!);
            return Promise.resolve(verdict);
          },
          reload: () => {},
          close: () => Promise.resolve(),
        };
        const lines: string[] = [];
        const ok = await simulateRelease({
          root: cg.path,
          path: "/s/job",
          scopes: ["/s"],
          hook,
          log: (priority, message) => lines.push(`${priority}: ${message}`),
        });
        assertEquals(ok, verdict);
        assertEquals(calls.length, 1);
        assertEquals(calls[0].path, "/s/job");
        assert(fdWasOpen, "dir fd open during the call");
        assert((calls[0].stats.cpuTotal ?? 0) > 0);
        assertEquals(lines.length, 1);
        assertMatch(lines[0], /^info: job: cpu=\d+\.\ds\/\d+\.\ds\/\d+\.\ds/);
        assert(cg.exists("/s/job"));
      }
    } finally {
      await cg.cleanup();
    }
  },
});
