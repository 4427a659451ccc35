// The `cgroup` object (spec §2, §7 tests 30-35) with synthetic snapshots.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { loadHook, released, SCOPE } from "./hook_test_helpers.ts";
import { close, O_DIRECTORY, O_RDONLY, open } from "../../ffi/fd.ts";
import { fsetxattr } from "../../ffi/fs.ts";

const encoder = new TextEncoder();

Deno.test("test 30: userdata with __index only, path, unknown keys nil, assignment raises", async () => {
  const h = await loadHook(`
    function cgroup_released(cgroup)
      print(type(cgroup), cgroup.path, tostring(cgroup.nonexistent), tostring(cgroup[1]))
      print(pcall(function() cgroup.foo = 1 end))
      print(pcall(function() return cgroup[{}] end))
      print(getmetatable(cgroup).__newindex, getmetatable(cgroup).__pairs, getmetatable(cgroup).__tostring)
    end`);
  try {
    assertEquals(await h.hook.cgroupReleased(released()), true);
    assertEquals(h.out[0], `userdata\t${SCOPE}/foo\tnil\tnil`);
    assertMatch(h.out[1], /^false\t.*reaper\.lua:4: attempt to index a userdata value/);
    assertMatch(h.out[2], /^false\t.*bad argument #2 to '__index' \(string expected, got table\)/);
    assertEquals(h.out[3], "nil\tnil\tnil");
    assertEquals(h.logs, []);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 31: btime is an integer timestamp and age a float; both nil when unknown or 0", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      if c.btime == nil then print("nil", c.age) return end
      if c.btime == 1000 then print(c.btime, c.age) return end
      print(math.type(c.btime), math.type(c.age), math.abs(os.time() - c.btime - c.age) < 2, c.age > 12 and c.age < 14)
    end`);
  try {
    await h.hook.cgroupReleased(released());
    await h.hook.cgroupReleased(released(undefined, { btime: null }));
    await h.hook.cgroupReleased(released(undefined, { btime: 0 }));
    await h.hook.cgroupReleased(released(undefined, { btime: 1000.75, takenAt: 1010 }));
    assertEquals(h.out, ["integer\tfloat\ttrue\ttrue", "nil\tnil", "nil\tnil", "1000\t9.25"]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 32: cpu seconds, counters exact integral doubles (also above 2^31-1), missing nil", async () => {
  const h = await loadHook(`
    local keys = {"cpu_total", "cpu_user", "cpu_system", "memory_peak", "memory_events_high",
      "memory_events_max", "memory_events_oom", "pids_peak", "pids_forks", "pids_events_max"}
    function cgroup_released(c)
      local t = {}
      for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. tostring(c[k]) .. ":" .. tostring(math.type(c[k])) end
      print(table.concat(t, " "))
    end`);
  try {
    await h.hook.cgroupReleased(released(undefined, {
      stats: {
        cpuTotal: 2.5,
        cpuUser: 2,
        cpuSystem: 0.5,
        memoryPeak: 1048576,
        memoryEventsHigh: 0,
        memoryEventsMax: 4294967295,
        pidsPeak: 7,
        pidsEventsMax: 3,
      },
    }));
    await h.hook.cgroupReleased(released(undefined, { stats: { memoryPeak: 2 ** 53 - 1 } }));
    assertEquals(
      h.out[0],
      [
        "cpu_total=2.5:float",
        "cpu_user=2:integer",
        "cpu_system=0.5:float",
        "memory_peak=1048576:integer",
        "memory_events_high=0:integer",
        "memory_events_max=4294967295:integer",
        "memory_events_oom=nil:nil",
        "pids_peak=7:integer",
        "pids_forks=nil:nil",
        "pids_events_max=3:integer",
      ].join(" "),
    );
    // exact above 2^31 (%.14g would round; compare numerically)
    assertEquals(h.out[1].includes("memory_peak=9.007199254741e+15:integer"), true);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 32b: memory_peak 2^53-1 arrives exact", async () => {
  const h = await loadHook(
    `function cgroup_released(c) print(c.memory_peak == 2^53 - 1, string.format("%.0f", c.memory_peak)) end`,
  );
  try {
    await h.hook.cgroupReleased(released(undefined, { stats: { memoryPeak: 2 ** 53 - 1 } }));
    assertEquals(h.out, ["true\t9007199254740991"]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 33: parent chain, cached, without reaper fields, ends below the root", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      print(c.parent.path, c.parent.parent.parent.path, tostring(c.parent.parent.parent.parent))
      print(rawequal(c.parent, c.parent), rawequal(c.parent.parent, c.parent.parent), tostring(c.parent.cpu_total), tostring(c.parent.btime), type(c.parent))
    end`);
  try {
    await h.hook.cgroupReleased(released(`${SCOPE}/foo`, { stats: { cpuTotal: 1 } }));
    assertEquals(h.out, [
      `${SCOPE}\t/system.slice\tnil`,
      "true\ttrue\tnil\tnil\tuserdata",
    ]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 34: xattr reads user.* names, raw names with a dot, binary values; failures nil", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      local x = c.xattr
      print(x.account, x["user.account"], tostring(x.missing), tostring(x["trusted.x"]), rawequal(c.xattr, x))
      print(#x.binary, x.binary == "a\\0\\255z", x.empty == "", type(x))
      print(c.parent.xattr.account, tostring(c.parent.parent.xattr.account))
      print(pcall(function() return c.parent.parent.parent.xattr end))
    end`);
  // cgroupRoot is the temp dir: <dir>/scope/foo is the cgroup, <dir>/scope its parent
  const cg = `${h.dir}/system.slice/system-cm4all.slice/bp-spawn.scope/foo`;
  await Deno.mkdir(cg, { recursive: true });
  const set = (path: string, name: string, value: Uint8Array<ArrayBuffer>) => {
    const fd = open(path, O_RDONLY | O_DIRECTORY);
    try {
      fsetxattr(fd, name, value);
    } finally {
      close(fd);
    }
  };
  set(cg, "user.account", encoder.encode("abc"));
  set(cg, "user.binary", new Uint8Array([0x61, 0, 0xff, 0x7a]));
  set(cg, "user.empty", new Uint8Array());
  set(`${h.dir}${SCOPE}`, "user.account", encoder.encode("parent"));
  const fd = open(cg, O_RDONLY | O_DIRECTORY);
  try {
    assertEquals(await h.hook.cgroupReleased(released(`${SCOPE}/foo`, { dirFd: fd })), true);
  } finally {
    close(fd);
  }
  try {
    assertEquals(h.out.slice(0, 3), [
      "abc\tabc\tnil\tnil\ttrue",
      "4\ttrue\ttrue\tuserdata",
      "parent\tnil",
    ]);
    assertMatch(h.out[3], /^true\tuserdata/);
    assertEquals(h.logs, []);
  } finally {
    await h.cleanup();
  }
});

Deno.test("xattr of a directory that cannot be opened raises with the system error", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      print(pcall(function() return c.xattr end))
    end`);
  try {
    await h.hook.cgroupReleased(released("/nonexistent/cgroup", { dirFd: null }));
    assertMatch(
      h.out[0],
      /^false\t.*Failed to open cgroup '\/nonexistent\/cgroup': No such file or directory$/,
    );
  } finally {
    await h.cleanup();
  }
});

Deno.test("test 35: objects and xattr tables saved in globals go stale when the handler ends", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      if saved then
        print(pcall(function() return saved.path end))
        print(pcall(function() return saved_parent.path end))
        print(pcall(function() return saved_xattr.account end))
        print(pcall(function() return saved.nonexistent end))
      end
      saved, saved_parent, saved_xattr = c, c.parent, c.xattr
      print(saved.path)
    end`);
  try {
    await Deno.mkdir(`${h.dir}/a/b`, { recursive: true });
    await h.hook.cgroupReleased(released("/a/b"));
    await h.hook.cgroupReleased(released("/a/b"));
    assertEquals(h.out[0], "/a/b");
    for (const line of h.out.slice(1, 5)) {
      assertMatch(line, /^false\t.*reaper\.lua:\d+: Stale object$/);
    }
    assertEquals(h.out[5], "/a/b");
  } finally {
    await h.cleanup();
  }
});

Deno.test("a handler that yields keeps its objects usable until it ends, then they go stale", async () => {
  const h = await loadHook(`
    function cgroup_released(c)
      if c.path == "/a/park" then
        parked = coroutine.running(); keep = c
        local v = coroutine.yield()
        print("resumed", v, keep.path, keep.xattr.k)
      else
        print("resume", coroutine.resume(parked, "v"))
        print(pcall(function() return keep.path end))
      end
    end`);
  try {
    await Deno.mkdir(`${h.dir}/a/park`, { recursive: true });
    const fd = open(`${h.dir}/a/park`, O_RDONLY | O_DIRECTORY);
    fsetxattr(fd, "user.k", encoder.encode("kv"));
    const first = h.hook.cgroupReleased(released("/a/park", { dirFd: fd }));
    // the core closes its fd about 50 ms later: the object must not depend on it
    close(fd);
    let settled = false;
    first.then(() => settled = true);
    await new Promise((r) => setTimeout(r, 10));
    assert(!settled, "parked handler must not be finished");
    assertEquals(await h.hook.cgroupReleased(released("/a/other")), true);
    assertEquals(await first, true);
    assertEquals(h.out[0], "resumed\tv\t/a/park\tkv");
    assertEquals(h.out[1], "resume\ttrue");
    assertMatch(h.out[2], /^false\t.*Stale object$/);
  } finally {
    await h.cleanup();
  }
});
