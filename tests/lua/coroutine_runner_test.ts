// The coroutine API the pg binding builds on: suspend inside a JS function,
// resume later from JS, decision 4, cancellation, listen-style spawning.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { newTestRuntime, runChunk, type TestRuntime } from "./lua_test_helpers.ts";
import { lua, type LuaState, to_luastring } from "../../reaper/lua/fengari.ts";
import { pushText } from "../../reaper/lua/lua_values.ts";
import type { ManagedCoroutine, Waiter } from "../../reaper/lua/coroutine_runner.ts";

/** Installs `wait(tag)`: suspends until the test resumes it; records waiters. */
function installWait(t: TestRuntime, cancelled: string[]): Map<string, Waiter> {
  const waiters = new Map<string, Waiter>();
  lua.lua_pushcfunction(t.L, (L: LuaState) => {
    const tag = new TextDecoder().decode(lua.lua_tolstring(L, 1) ?? new Uint8Array());
    const waiter = t.runtime.runner.suspend(L, "wait", () => cancelled.push(tag));
    waiters.set(tag, waiter);
    return waiter.yield();
  });
  lua.lua_setglobal(t.L, to_luastring("wait"));
  return waiters;
}

function spawnGlobal(t: TestRuntime, name: string, kind: "handler" | "listen" = "handler") {
  return t.runtime.runner.spawn(kind, name, (T) => {
    lua.lua_getglobal(T, to_luastring(name));
    return 0;
  });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("a JS function suspends a managed coroutine and JS resumes it with values", async () => {
  const t = await newTestRuntime();
  const cancelled: string[] = [];
  const waiters = installWait(t, cancelled);
  try {
    runChunk(t.L, `function h() local a, b = wait("q"); print("got", a, b); return "r" end`);
    const co: ManagedCoroutine = spawnGlobal(t, "h");
    assertEquals(co.state, "waiting");
    assertEquals(t.runtime.runner.live, 1);
    waiters.get("q")!.resume((T) => {
      lua.lua_pushinteger(T, 7);
      pushText(T, "x");
      return 2;
    });
    waiters.get("q")!.resume(() => 0); // a second resume is ignored
    assertEquals(await co.done, true);
    assertEquals(t.out, ["got\t7\tx\n"]);
    assertEquals(t.runtime.runner.live, 0);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("resume may come before yield (synchronous completion) and inside pcall", async () => {
  const t = await newTestRuntime();
  try {
    lua.lua_pushcfunction(t.L, (L: LuaState) => {
      const w = t.runtime.runner.suspend(L, "now");
      w.resume((T) => {
        lua.lua_pushboolean(T, true);
        return 1;
      });
      return w.yield();
    });
    lua.lua_setglobal(t.L, to_luastring("now"));
    runChunk(t.L, `function h() print(pcall(now)) end`);
    assertEquals(await spawnGlobal(t, "h").done, true);
    assertEquals(t.out, ["true\ttrue\n"]);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("decision 4: outside a managed coroutine the JS function raises a clear error", async () => {
  const t = await newTestRuntime();
  const waiters = installWait(t, []);
  try {
    const main = runChunk(t.L, `return pcall(wait, "main")`);
    assertEquals(main.ok && main.values[0], false);
    assert(main.ok);
    assertEquals(main.values[1], "wait must run in a handler, reload or listen coroutine");
    runChunk(
      t.L,
      `function h() print(coroutine.resume(coroutine.create(function() wait("own") end))) end`,
    );
    assertEquals(await spawnGlobal(t, "h").done, true);
    assertMatch(t.out[0], /^false\t.*wait must run in a handler, reload or listen coroutine\n$/);
    assertEquals(waiters.size, 0);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("a coroutine waiting in JS cannot be resumed by the script", async () => {
  const t = await newTestRuntime();
  const waiters = installWait(t, []);
  try {
    runChunk(
      t.L,
      `function a() co_a = coroutine.running(); wait("a"); print("a done") end
                   function b() print(coroutine.resume(co_a, "hijack")) end`,
    );
    const a = spawnGlobal(t, "a");
    await spawnGlobal(t, "b").done;
    assertMatch(t.out[0], /^false\tcannot resume a coroutine waiting in wait\n$/);
    waiters.get("a")!.resume(() => 0);
    assertEquals(await a.done, true);
    assertEquals(t.out[1], "a done\n");
  } finally {
    await t.runtime.close();
  }
});

Deno.test("§1.4: a parked managed coroutine resumed by the script finishes or fails properly", async () => {
  const t = await newTestRuntime();
  try {
    runChunk(
      t.L,
      `
      function p1() parked1 = coroutine.running(); coroutine.yield(); return 1 end
      function p2() parked2 = coroutine.running(); coroutine.yield(); error("late failure") end
      function r() print(coroutine.resume(parked1)); print(coroutine.resume(parked2)) end`,
    );
    const p1 = spawnGlobal(t, "p1");
    const p2 = spawnGlobal(t, "p2", "listen");
    assertEquals([p1.state, p2.state], ["suspended", "suspended"]);
    await spawnGlobal(t, "r").done;
    assertEquals(await p1.done, true);
    assertEquals(await p2.done, false);
    assertEquals(t.out[0], "true\t1\n");
    assertMatch(t.out[1], /^false\tsnippet:3: late failure\n$/);
    assertEquals(t.logs.length, 1);
    assertMatch(t.logs[0], /^Lua error in p2: snippet:3: late failure$/);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("close() cancels waiting coroutines, calls their cancel callbacks, ignores late resumes", async () => {
  const t = await newTestRuntime();
  const cancelled: string[] = [];
  const waiters = installWait(t, cancelled);
  runChunk(
    t.L,
    `function h() wait("x") print("never") end
                 function g() coroutine.yield() end`,
  );
  const h = spawnGlobal(t, "h");
  const g = spawnGlobal(t, "g");
  await t.runtime.close();
  assertEquals(await h.done, false);
  assertEquals(await g.done, false);
  assertEquals(cancelled, ["x"]);
  waiters.get("x")!.resume(() => 0);
  await tick();
  assertEquals(t.out, []);
  assertEquals(spawnGlobal(t, "g").state, "done"); // nothing starts after close
});

Deno.test("listen-style spawn keeps a function alive with ref and runs it in new coroutines", async () => {
  const t = await newTestRuntime();
  try {
    runChunk(t.L, `n = 0; cb = function(...) n = n + 1; print("cb", n, select('#', ...)) end`);
    lua.lua_getglobal(t.L, to_luastring("cb"));
    const ref = t.runtime.runner.ref(t.L, -1);
    lua.lua_pop(t.L, 1);
    runChunk(t.L, `cb = nil`);
    for (let i = 0; i < 2; i++) {
      const co = t.runtime.runner.spawn("listen", "listen callback 'c'", (T) => {
        lua.lua_rawgeti(T, lua.LUA_REGISTRYINDEX, ref);
        return 0;
      });
      assertEquals(await co.done, true);
    }
    t.runtime.runner.unref(ref);
    assertEquals(t.out, ["cb\t1\t0\n", "cb\t2\t0\n"]);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("resuming a running managed coroutine fails without killing it", async () => {
  const t = await newTestRuntime();
  try {
    runChunk(
      t.L,
      `
      function a()
        co_a = coroutine.running()
        print(coroutine.resume(co_a))
        local inner = coroutine.create(function() return coroutine.resume(co_a) end)
        print(coroutine.resume(inner))
        return "a finished"
      end`,
    );
    assertEquals(await spawnGlobal(t, "a").done, true);
    assertEquals(t.out, [
      "false\tcannot resume non-suspended coroutine\n",
      "true\tfalse\tcannot resume non-suspended coroutine\n",
    ]);
    assertEquals(t.logs, []);
  } finally {
    await t.runtime.close();
  }
});

Deno.test("a throwing resume callback gives the coroutine nil, msg instead of stranding it", async () => {
  const t = await newTestRuntime();
  const waiters = installWait(t, []);
  try {
    runChunk(t.L, `function h() print(wait("t")) end`);
    const co = spawnGlobal(t, "h");
    waiters.get("t")!.resume(() => {
      throw new Error("decoder broke");
    });
    assertEquals(await co.done, true);
    assertEquals(t.out, ["nil\twait: internal error: decoder broke\n"]);
  } finally {
    await t.runtime.close();
  }
});
