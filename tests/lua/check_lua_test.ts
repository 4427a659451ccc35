// --check-lua outcomes (programs.md, decision 1).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { writeScript } from "./hook_test_helpers.ts";
import { checkLuaScript } from "../../reaper/lua/lua_hook.ts";

async function check(source: string): Promise<{ ok: boolean; messages: string[] }> {
  const path = await writeScript(source);
  try {
    const r = await checkLuaScript(path);
    return { ok: r.ok, messages: r.messages.map((m) => m.replaceAll(path, "SCRIPT")) };
  } finally {
    await Deno.remove(path.replace(/\/reaper\.lua$/, ""), { recursive: true });
  }
}

Deno.test("check-lua: a good script with handler and reload", async () => {
  assertEquals(await check("function cgroup_released(c) end\nfunction reload() end"), {
    ok: true,
    messages: ["SCRIPT: cgroup_released is defined", "SCRIPT: reload is defined (runs on SIGHUP)"],
  });
});

Deno.test("check-lua: missing cgroup_released is a warning, ok", async () => {
  const r = await check("x = 1");
  assertEquals(r.ok, true);
  assertMatch(r.messages[0], /^SCRIPT: warning: 'cgroup_released' is not defined/);
  assertEquals(r.messages[1], "SCRIPT: reload is not defined (SIGHUP does nothing)");
});

Deno.test("check-lua: cgroup_released not a function fails; reload not a function warns", async () => {
  const r = await check("cgroup_released = {}\nreload = 1");
  assertEquals(r.ok, false);
  assertEquals(r.messages[0], "SCRIPT: 'cgroup_released' is not a function");
  assertMatch(r.messages[1], /warning: 'reload' is not a function/);
});

Deno.test("check-lua: syntax and runtime errors fail with file:line", async () => {
  assertEquals(await check("function cgroup_released(\n"), {
    ok: false,
    messages: ["SCRIPT:2: <name> or '...' expected near <eof>"],
  });
  const r = await check("function cgroup_released() end\nlocal x = nil + 1");
  assertEquals(r.ok, false);
  assertMatch(r.messages[0], /^SCRIPT:2: attempt to perform arithmetic on a nil value/);
});

Deno.test("check-lua: a missing file is reported, not thrown away", async () => {
  let message = "";
  try {
    await checkLuaScript("/nonexistent/reaper.lua");
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  assert(message.startsWith("/nonexistent/reaper.lua: "), message);
});
