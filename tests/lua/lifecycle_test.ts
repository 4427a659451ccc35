// Script lifecycle (spec §1, §7 tests 36-38): loading, handler errors,
// reload coalescing, the instruction budget and shutdown.
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { loadHook, released, writeScript } from "./hook_test_helpers.ts";
import { loadLuaHook } from "../../reaper/lua/lua_hook.ts";

async function loadFails(source: string): Promise<string> {
  const path = await writeScript(source);
  try {
    const error = await assertRejects(() =>
      loadLuaHook({ scriptPath: path, cgroupRoot: "/nonexistent", logError: () => {} })
    );
    return error.message.replaceAll(path, "SCRIPT");
  } finally {
    await Deno.remove(path.replace(/\/reaper\.lua$/, ""), { recursive: true });
  }
}

Deno.test("startup failures name file:line (syntax and runtime), one line", async () => {
  assertMatch(await loadFails("x = = 1"), /^SCRIPT:1: unexpected symbol near '='$/);
  assertMatch(await loadFails("\n\nerror('bad start')"), /^SCRIPT:3: bad start$/);
  assertMatch(
    await loadFails("local t = nil\nprint(t.x)"),
    /^SCRIPT:2: attempt to index a nil value/,
  );
  assertMatch(await loadFails("\nerror({})"), /^SCRIPT:2: table: 0x[0-9a-f]+$/);
  assertMatch(await loadFails("error('multi\\nline')"), /^SCRIPT:1: multi line$/);
});

Deno.test("test 36 / decision 1: cgroup_released missing is allowed, a non-function is fatal", async () => {
  assertEquals(await loadFails("cgroup_released = 5"), "'cgroup_released' is not a function");
  assertEquals(
    await loadFails("cgroup_released = setmetatable({}, {__call = function() end})"),
    "'cgroup_released' is not a function",
  );
  const h = await loadHook("x = 1");
  try {
    assertEquals(await h.hook.cgroupReleased(released()), true);
  } finally {
    await h.cleanup();
  }
});

Deno.test("a script that yields or loops forever at startup fails instead of hanging", async () => {
  assertMatch(
    await loadFails("coroutine.yield()"),
    /^SCRIPT:1: attempt to yield from outside a coroutine$/,
  );
  const path = await writeScript("while true do end");
  try {
    const error = await assertRejects(() =>
      loadLuaHook({ scriptPath: path, cgroupRoot: "/", instructionBudget: 100_000 })
    );
    assertMatch(error.message, /reaper\.lua:1: instruction budget exceeded/);
  } finally {
    await Deno.remove(path.replace(/\/reaper\.lua$/, ""), { recursive: true });
  }
});

Deno.test("test 37: handler errors are logged as one line and the next cgroup still runs", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      if c.path == "/boom" then error("boom") end
      if c.path == "/table" then error({}) end
      if c.path == "/custom" then error(setmetatable({}, {__tostring = function() return "custom" end})) end
      if c.path == "/bad-tostring" then error(setmetatable({}, {__tostring = function() error("x") end})) end
      if c.path == "/nil" then error(nil) end
      if c.path == "/number" then error(42, 0) end
      print("ok", c.path)
    end`);
  try {
    const results = [];
    for (const p of ["/boom", "/table", "/custom", "/bad-tostring", "/nil", "/number", "/fine"]) {
      results.push(await h.hook.cgroupReleased(released(p)));
    }
    assertEquals(results, [false, false, false, false, false, false, true]);
    assertEquals(h.out, ["ok\t/fine"]);
    assertEquals(h.logs.length, 6);
    for (const line of h.logs) assert(!line.includes("\n"), `one line: ${line}`);
    assertMatch(h.logs[0], /^Lua error in cgroup_released\('\/boom'\): .*reaper\.lua:3: boom$/);
    assertMatch(
      h.logs[1],
      /^Lua error in cgroup_released\('\/table'\): .*reaper\.lua:4: table: 0x[0-9a-f]+$/,
    );
    assertMatch(h.logs[2], /reaper\.lua:5: custom$/);
    assertMatch(h.logs[3], /reaper\.lua:6: table$/);
    assertMatch(h.logs[4], /reaper\.lua:7: nil$/);
    assertMatch(h.logs[5], /reaper\.lua:8: 42$/);
  } finally {
    await h.cleanup();
  }
});

Deno.test("the handler is captured once: reassigning the global has no effect", async () => {
  const h = await loadHook(`
    function cgroup_released(c) print("first") cgroup_released = function() print("second") end end`);
  try {
    await h.hook.cgroupReleased(released());
    await h.hook.cgroupReleased(released());
    assertEquals(h.out, ["first", "first"]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 38: reload is single-flight and coalesces SIGHUPs into one more run", async () => {
  const h = await loadHook(`
    runs = 0
    function reload()
      runs = runs + 1
      print("reload", runs)
      parked = coroutine.running()
      coroutine.yield()
    end
    function cgroup_released(c)
      local p = parked
      parked = nil
      if p then coroutine.resume(p) end
    end`);
  try {
    h.hook.reload(); // runs and parks
    h.hook.reload();
    h.hook.reload();
    h.hook.reload(); // three while suspended -> exactly one more
    assertEquals(h.out, ["reload\t1"]);
    await h.hook.cgroupReleased(released()); // finishes run 1
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(h.out, ["reload\t1", "reload\t2"]);
    await h.hook.cgroupReleased(released()); // finishes run 2
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(h.out, ["reload\t1", "reload\t2"]);
    h.hook.reload(); // idle again: runs at once
    assertEquals(h.out.length, 3);
  } finally {
    await h.cleanup();
  }
});

Deno.test("reload: no global is a no-op, errors are logged, it is looked up each time", async () => {
  const h = await loadHook(`
    function cgroup_released(c) end
    function reload() reload = 5; error("reload failed") end`);
  try {
    h.hook.reload();
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(h.logs.length, 1);
    assertMatch(h.logs[0], /^Lua error in reload: .*reaper\.lua:3: reload failed$/);
    h.hook.reload(); // now a number: not callable, logged, never fatal
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(h.logs.length, 2);
    assertMatch(h.logs[1], /attempt to call a number value/);
  } finally {
    await h.cleanup();
  }
  const quiet = await loadHook("function cgroup_released() end");
  try {
    quiet.hook.reload();
    await new Promise((r) => setTimeout(r, 0));
    assertEquals([quiet.out, quiet.logs], [[], []]);
  } finally {
    await quiet.cleanup();
  }
});

Deno.test("instruction budget: a runaway handler is aborted and logged, the next one runs", async () => {
  const h = await loadHook(
    `
    function cgroup_released(c)
      if c.path == "/spin" then while true do end end
      if c.path == "/pcall-spin" then
        pcall(error, "caught first")
        while true do pcall(function() while true do end end) end
      end
      local n = 0
      for i = 1, 20000 do n = n + i end
      print("fine", n)
    end`,
    { instructionBudget: 200_000 },
  );
  try {
    assertEquals(await h.hook.cgroupReleased(released("/spin")), false);
    assertEquals(await h.hook.cgroupReleased(released("/pcall-spin")), false);
    assertEquals(await h.hook.cgroupReleased(released("/fine")), true);
    assertEquals(h.out, ["fine\t200010000"]);
    assertEquals(h.logs.length, 2);
    for (const line of h.logs) {
      assertMatch(
        line,
        /reaper\.lua:\d+: instruction budget exceeded \(200000 instructions per run\)$/,
      );
    }
  } finally {
    await h.cleanup();
  }
});

Deno.test("the budget is per run: a coroutine resumed many times is not charged cumulatively", async () => {
  const h = await loadHook(
    `
    function cgroup_released(c)
      if not gen then gen = coroutine.wrap(function() while true do for i = 1, 1000 do end coroutine.yield() end end) end
      for i = 1, 20 do gen() end
    end`,
    { instructionBudget: 100_000 },
  );
  try {
    for (let i = 0; i < 20; i++) assertEquals(await h.hook.cgroupReleased(released()), true);
    assertEquals(h.logs, []);
  } finally {
    await h.cleanup();
  }
});

Deno.test("many handlers may be suspended at once; close() cancels them", async () => {
  const h = await loadHook(`function cgroup_released(c) coroutine.yield() print("never") end`);
  const pending = [];
  for (let i = 0; i < 100; i++) pending.push(h.hook.cgroupReleased(released(`/c${i}`)));
  await h.cleanup();
  assertEquals((await Promise.all(pending)).every((ok) => ok === false), true);
  assertEquals(h.out, []);
});
