// What a script can reach: process spawning and JS loading are gone unless
// allowExec; os.exit and debug.sethook are always gone; what remains (files
// via os.remove/rename, loadfile, require of Lua files) still works.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { loadLuaHook, type LuaHookOptions } from "../../reaper/lua/lua_hook.ts";
import type { ReaperHook } from "../../reaper/hook.ts";
import { released } from "./hook_test_helpers.ts";

interface Loaded {
  hook: ReaperHook;
  out: string[];
  logs: string[];
  dir: string;
}

async function withScript(
  source: string,
  options: Partial<LuaHookOptions>,
  body: (h: Loaded) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lua-sandbox-" });
  const out: string[] = [];
  const logs: string[] = [];
  let hook: ReaperHook | null = null;
  try {
    await Deno.writeTextFile(`${dir}/reaper.lua`, source.replaceAll("$DIR", dir));
    hook = await loadLuaHook({
      scriptPath: `${dir}/reaper.lua`,
      cgroupRoot: dir,
      logError: (line) => logs.push(line),
      writeOut: (b) => out.push(new TextDecoder().decode(b).replace(/\n$/, "")),
      ...options,
    });
    await body({ hook, out, logs, dir });
  } finally {
    await hook?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const REACH = `
local names = {"os.execute", "os.exit", "io.popen", "io.open", "package.loadlib",
  "debug.sethook", "os.remove", "os.rename", "os.getenv", "os.tmpname", "loadfile",
  "dofile", "require", "io.write", "debug.traceback"}
function cgroup_released(c)
  local t = {}
  for _, n in ipairs(names) do
    local lib, f = n:match("^(%w+)%.(%w+)$")
    local v
    if lib then v = _G[lib][f] else v = _G[n] end
    t[#t + 1] = n .. "=" .. type(v)
  end
  t[#t + 1] = "searchers=" .. #package.searchers
  print(table.concat(t, " "))
end
`;

function reach(line: string): Record<string, string> {
  return Object.fromEntries(line.split(" ").map((kv) => kv.split("=")));
}

Deno.test("default sandbox: no os.execute, os.exit, package.loadlib, JS searchers, sethook", async () => {
  await withScript(REACH, {}, async (h) => {
    assert(await h.hook.cgroupReleased(released()));
    const r = reach(h.out[0]);
    for (const gone of ["os.execute", "os.exit", "io.popen", "package.loadlib", "debug.sethook"]) {
      assertEquals(r[gone], "nil", gone);
    }
    assertEquals(r["io.open"], "nil", "fengari has no io.open at all");
    assertEquals(r.searchers, "2", "preload and Lua files only");
    for (const kept of ["os.remove", "os.rename", "os.getenv", "loadfile", "require", "io.write"]) {
      assertEquals(r[kept], "function", kept);
    }
  });
});

Deno.test("--lua-allow-exec restores os.execute, package.loadlib and the JS searchers", async () => {
  await withScript(REACH, { allowExec: true }, async (h) => {
    assert(await h.hook.cgroupReleased(released()));
    const r = reach(h.out[0]);
    assertEquals(r["os.execute"], "function");
    assertEquals(r["package.loadlib"], "function");
    assertEquals(r.searchers, "4");
    assertEquals(r["os.exit"], "nil", "never: it would end the daemon");
    assertEquals(r["debug.sethook"], "nil", "never: it would disarm the budgets");
  });
});

Deno.test("os.execute with allowExec really runs a program; without it the call raises", async () => {
  const script =
    `function cgroup_released(c) print(tostring(os.execute("echo hi > $DIR/ran"))) end`;
  await withScript(script, { allowExec: true }, async (h) => {
    assert(await h.hook.cgroupReleased(released()));
    assertEquals(Deno.readTextFileSync(`${h.dir}/ran`), "hi\n");
  });
  await withScript(script, {}, async (h) => {
    assertEquals(await h.hook.cgroupReleased(released()), false);
    assertEquals(h.logs.length, 1);
    assertMatch(h.logs[0], /attempt to call a nil value \(field 'execute'\)/);
  });
});

Deno.test("a JS module is required only with allowExec (it runs arbitrary JavaScript)", async () => {
  const script = `
    function cgroup_released(c)
      local ok, err = pcall(require, "evil")
      print(tostring(_G.package.loadlib ~= nil) .. " " .. tostring(err))
    end`;
  const g = globalThis as Record<string, unknown>;
  for (const allowExec of [false, true]) {
    delete g.PWNED_FROM_LUA;
    await withScript(script, { allowExec }, async (h) => {
      await Deno.writeTextFile(`${h.dir}/evil.js`, "globalThis.PWNED_FROM_LUA = true;");
      const cwd = Deno.cwd();
      Deno.chdir(h.dir); // the JS searcher's default path includes ./?.js
      try {
        await h.hook.cgroupReleased(released());
      } finally {
        Deno.chdir(cwd);
      }
      // loaded and run (then no luaopen_evil in it), or not even found
      assertMatch(h.out[0], allowExec ? /^true .*luaopen_evil/s : /^false module 'evil' not found/);
      assertEquals(g.PWNED_FROM_LUA, allowExec ? true : undefined);
    });
  }
  delete g.PWNED_FROM_LUA;
});

Deno.test("what stays reachable: require of a Lua file, loadfile, os.remove", async () => {
  const script = `
    package.path = "$DIR/?.lua"
    local helper = require("helper")
    function cgroup_released(c)
      print(helper.twice(21))
      print(tostring(os.remove("$DIR/victim")))
    end`;
  const dir = await Deno.makeTempDir({ prefix: "lua-sandbox-" });
  try {
    await Deno.writeTextFile(`${dir}/helper.lua`, "return {twice = function(x) return 2 * x end}");
    await Deno.writeTextFile(`${dir}/victim`, "x");
    await Deno.writeTextFile(`${dir}/reaper.lua`, script.replaceAll("$DIR", dir));
    const out: string[] = [];
    const hook = await loadLuaHook({
      scriptPath: `${dir}/reaper.lua`,
      cgroupRoot: dir,
      logError: () => {},
      writeOut: (b) => out.push(new TextDecoder().decode(b).replace(/\n$/, "")),
    });
    try {
      assert(await hook.cgroupReleased(released()));
    } finally {
      await hook.close();
    }
    assertEquals(out, ["42", "true"]);
    let exists = true;
    try {
      Deno.statSync(`${dir}/victim`);
    } catch {
      exists = false;
    }
    assertEquals(exists, false, "os.remove deletes files the daemon may delete");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
