// Issue 14 item 11: pattern matching inside one library call is counted
// against the instruction budget, so a pathological pattern is aborted
// instead of blocking the daemon.
import { assertEquals, assertMatch } from "../assert.ts";
import { loadHook, released } from "./hook_test_helpers.ts";
import { runReaper } from "../reaper/reaper_process.ts";

const PATHOLOGICAL = `string.find(string.rep("a", 300), ".-.-.-.-b")`;

Deno.test("a backtracking pattern is stopped by --lua-budget 1000, the next cgroup still runs", async () => {
  const h = await loadHook(
    `
    function cgroup_released(c)
      if c.path == "/find" then return ${PATHOLOGICAL} end
      if c.path == "/gsub" then return (string.rep("a", 300)):gsub(".-.-.-.-b", "") end
      if c.path == "/pcall" then
        -- catching the error does not buy more steps
        for i = 1, 100 do pcall(string.find, string.rep("a", 300), ".-.-.-.-b") end
        return
      end
      print("fine", string.find("hello world", "o w"), ("x=1, y=2"):gsub("(%w+)=(%w+)", "%2=%1"))
    end`,
    { instructionBudget: 1000 },
  );
  try {
    assertEquals(await h.hook.cgroupReleased(released("/find")), false);
    assertEquals(await h.hook.cgroupReleased(released("/gsub")), false);
    assertEquals(await h.hook.cgroupReleased(released("/pcall")), false);
    assertEquals(await h.hook.cgroupReleased(released("/fine")), true);
    assertEquals(h.out, ["fine\t5\t1=x, 2=y\t2"]);
    assertEquals(h.logs.length, 3);
    for (const line of h.logs) {
      assertMatch(line, /instruction budget exceeded \(1000 instructions per run\)$/);
    }
  } finally {
    await h.cleanup();
  }
});

Deno.test("ordinary pattern matching fits the default budget and gives LuaJIT's results", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      local n = 0
      for i = 1, 200 do
        for w in ("alpha beta gamma delta"):gmatch("%a+") do n = n + #w end
      end
      print(n, ("/a/b/c.scope"):match("([^/]+)%.scope$"), ("  x  "):match("^%s*(.-)%s*$"))
    end`);
  try {
    assertEquals(await h.hook.cgroupReleased(released()), true);
    assertEquals(h.out, ["3800\tc\tx"]);
    assertEquals(h.logs, []);
  } finally {
    await h.cleanup();
  }
});

Deno.test("reaper --simulate --lua-budget 1000: the pathological string.find fails promptly (exit 1)", async () => {
  const root = await Deno.makeTempDir({ prefix: "lua-pattern-" });
  try {
    await Deno.mkdir(`${root}/s/sim`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/reaper.lua`,
      `function cgroup_released(c) print(${PATHOLOGICAL}) end`,
    );
    const r = await runReaper([
      "--cgroup-root",
      root,
      "--lua",
      `${root}/reaper.lua`,
      "--lua-budget",
      "1000",
      "--simulate",
      "/s/sim",
    ]);
    assertEquals(r.code, 1, r.stderr);
    assertMatch(
      r.stderr,
      /reaper\.lua:1: instruction budget exceeded \(1000 instructions per run\)/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
