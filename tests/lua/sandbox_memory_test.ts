// The memory budget per Lua state and the cap on handlers parked in a plain
// coroutine.yield(): both abort with one logged line and the hook carries on.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { loadLuaHook, type LuaHookOptions } from "../../reaper/lua/lua_hook.ts";
import type { ReaperHook } from "../../reaper/hook.ts";
import { released, SCOPE } from "./hook_test_helpers.ts";
import { MemoryBudget } from "../../reaper/lua/memory_budget.ts";

async function withScript(
  source: string,
  options: Partial<LuaHookOptions>,
  body: (h: { hook: ReaperHook; out: string[]; logs: string[] }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lua-memory-" });
  const out: string[] = [];
  const logs: string[] = [];
  let hook: ReaperHook | null = null;
  try {
    await Deno.writeTextFile(`${dir}/reaper.lua`, source);
    hook = await loadLuaHook({
      scriptPath: `${dir}/reaper.lua`,
      cgroupRoot: dir,
      logError: (line) => logs.push(line),
      writeOut: (b) => out.push(new TextDecoder().decode(b).replace(/\n$/, "")),
      ...options,
    });
    await body({ hook, out, logs });
  } finally {
    await hook?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const MIB = 1048576;

const HOARDER = `
hoard = {}
function cgroup_released(c)
  if c.path:match("grow$") then
    for i = 1, 2000000 do hoard[#hoard + 1] = string.rep("x", 64) .. i end
  end
  print("ran " .. c.path)
end
function reload() hoard = {} end
`;

Deno.test({
  name: "memory budget: a handler hoarding memory is aborted with one line; reload frees it",
  sanitizeOps: false,
  fn: () =>
    withScript(HOARDER, { memoryBudget: 32 * MIB, instructionBudget: 1e9 }, async (h) => {
      assert(await h.hook.cgroupReleased(released(`${SCOPE}/small`)));
      assertEquals(await h.hook.cgroupReleased(released(`${SCOPE}/grow`)), false);
      assertEquals(h.logs.length, 1, h.logs.join("\n"));
      assertMatch(
        h.logs[0],
        /^Lua error in cgroup_released\('.*\/grow'\): .*reaper\.lua:5: memory budget exceeded \(32 MiB per Lua state\)$/,
      );
      // still over budget: the next handler is refused before it runs
      assertEquals(await h.hook.cgroupReleased(released(`${SCOPE}/next`)), false);
      assertEquals(h.logs.length, 2);
      assertMatch(h.logs[1], /'.*\/next'\): memory budget exceeded/);
      h.hook.reload(); // drops the hoard
      await new Promise((r) => setTimeout(r, 1100)); // past the over-budget stickiness
      assert(await h.hook.cgroupReleased(released(`${SCOPE}/after`)), h.logs.join("\n"));
      assertEquals(h.out, [`ran ${SCOPE}/small`, `ran ${SCOPE}/after`]);
    }),
});

Deno.test({
  name: "memory budget: string.rep refuses a result larger than the budget before allocating",
  sanitizeOps: false,
  fn: () =>
    withScript(
      `function cgroup_released(c)
        print(#string.rep("ab", 1000, ","))
        print(#("x"):rep(2^30))
      end`,
      { memoryBudget: 16 * MIB },
      async (h) => {
        assertEquals(await h.hook.cgroupReleased(released()), false);
        assertEquals(h.out, ["2999"]);
        assertEquals(h.logs.length, 1);
        assertMatch(h.logs[0], /reaper\.lua:3: memory budget exceeded \(16 MiB per Lua state\)$/);
      },
    ),
});

Deno.test({
  name: "memory budget: garbage is not charged (a forced GC measures what is live)",
  sanitizeOps: false,
  fn: () =>
    withScript(
      `function cgroup_released(c)
        local n = 0
        for i = 1, 150000 do local s = string.rep("y", 200) .. i; n = n + #s end
        print(n)
      end`,
      { memoryBudget: 16 * MIB, instructionBudget: 1e9 },
      async (h) => {
        // ~31 MB of short-lived strings against a 16 MiB budget
        assert(await h.hook.cgroupReleased(released()), h.logs.join("\n"));
        assertEquals(h.logs, []);
        assert(Number(h.out[0]) > 30e6);
      },
    ),
});

Deno.test({
  name: "handlers parked in coroutine.yield() beyond maxSuspended: the oldest are cancelled",
  sanitizeOps: false,
  fn: () =>
    withScript(
      `function cgroup_released(c) coroutine.yield() end`,
      { maxSuspended: 10 },
      async (h) => {
        const results: Promise<boolean>[] = [];
        for (let i = 0; i < 25; i++) {
          results.push(h.hook.cgroupReleased(released(`${SCOPE}/j${i}`)));
        }
        const settled = await Promise.all(results.slice(0, 15));
        assertEquals(settled, new Array(15).fill(false));
        assertEquals(h.logs.length, 15);
        assertMatch(
          h.logs[0],
          /^Lua error in cgroup_released\('.*\/j0'\): cancelled: more than 10 handlers suspended in coroutine\.yield\(\)$/,
        );
        assertMatch(h.logs[14], /\/j14'/);
        // the 10 newest stay parked until shutdown
        let parked = 0;
        for (const r of results.slice(15)) r.then(() => parked--);
        parked = 10;
        await new Promise((r) => setTimeout(r, 20));
        assertEquals(parked, 10);
      },
    ),
});

Deno.test({
  name: "4000 handlers parked forever with maxSuspended 100: the live heap stays flat",
  sanitizeOps: false,
  fn: () =>
    withScript(
      `function cgroup_released(c) coroutine.yield() end`,
      { maxSuspended: 100 },
      async (h) => {
        const budget = new MemoryBudget(Number.MAX_SAFE_INTEGER); // only for liveGrowth()
        const growth: number[] = [];
        for (let round = 1; round <= 4; round++) {
          for (let i = 0; i < 1000; i++) h.hook.cgroupReleased(released(`${SCOPE}/j${round}-${i}`));
          await new Promise((r) => setTimeout(r, 10));
          h.logs.length = 0; // the cancellation lines (checked above) are the test's memory
          growth.push(budget.liveGrowth());
        }
        console.log(
          `FIGURE ${
            JSON.stringify({
              name: "parked-handlers-live-heap-KiB",
              after1000s: growth.map((g) => Math.round(g / 1024)),
            })
          }`,
        );
        // uncapped, each parked handler keeps ~3 KiB: 3000 more would add ~9 MiB
        assert(growth[3] - growth[0] < 512 * 1024, `grew ${growth.map((g) => g >> 10)} KiB`);
      },
    ),
});
