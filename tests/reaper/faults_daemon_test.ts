// Fault tests of the real reaper daemon (reaper/main.ts as a child process)
// on the real cgroup2 tree under a private test root (root needed): SIGKILL
// in the middle of a storm and a restart, an unreadable cgroup file, Lua
// handlers that raise, park forever or loop, and the daemon's fds.
// Figures are printed as "FIGURE {...}" lines (copied to the report).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { close, O_RDONLY, open, setCloseOnExec } from "../../ffi/fd.ts";
import { CANNOT_RUN, sleep, subdirectories, TestCgroupRoot, waitFor } from "./cgroup_fixture.ts";
import { ReaperProcess as Reaper } from "./reaper_process.ts";

const opts = { ignore: CANNOT_RUN, sanitizeOps: false, sanitizeResources: false };

const READY = /watching .* cgroups found\)/;

/** Runs n processes, each in its own new cgroup <scopeDir>/<prefix><i>, one sh loop. */
async function storm(scopeDir: string, prefix: string, n: number, pause = ""): Promise<void> {
  const script = `i=0; while [ $i -lt ${n} ]; do
    d="${scopeDir}/${prefix}$i"; mkdir "$d"
    sh -c 'echo $$ > "$1/cgroup.procs" && exec true' sh "$d"
    ${pause ? `sleep ${pause};` : ""} i=$((i+1)); done`;
  const status = await new Deno.Command("sh", { args: ["-c", script], stdin: "null" }).output();
  if (!status.success) throw new Error(`storm failed: ${new TextDecoder().decode(status.stderr)}`);
}

function leftovers(cg: TestCgroupRoot, scope: string): string[] {
  return subdirectories(cg.abs(scope));
}

function figure(name: string, values: Record<string, number | string>): void {
  console.log(`FIGURE ${JSON.stringify({ name, ...values })}`);
}

Deno.test({
  name: "SIGKILL in the middle of a 500-cgroup storm, restart: zero leftovers",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let first: Reaper | null = null;
    let second: Reaper | null = null;
    try {
      cg.mkdir("/s");
      first = new Reaper(["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"]);
      await first.waitForLog(READY);
      // ~10 ms per cgroup, so the kill lands while cgroups are being
      // created, emptied, reaped, queued for deletion and deleted
      let stormDone = false;
      const storming = storm(cg.abs("/s"), "job", 500, "0.01").finally(() => stormDone = true);
      await waitFor(
        () => first!.count(/^job\d+:/) >= 100 && !cg.exists("/s/job0"),
        "100 reaps and the first deletion",
        60_000,
      );
      await first.kill("SIGKILL");
      const reapedBefore = first.count(/^job\d+:/);
      const reapedNames = first.stderr.match(/^job\d+(?=:)/gm) ?? [];
      const deletedBefore = reapedNames.filter((name) => !cg.exists(`/s/${name}`)).length;
      assert(!stormDone, "killed in the middle of the storm");
      await storming;
      const left = leftovers(cg, "/s").length;
      assert(left > 0, "the storm outlived the first reaper");
      second = new Reaper(["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"]);
      await second.waitForLog(READY);
      await waitFor(() => leftovers(cg, "/s").length === 0, "zero leftovers", 60_000);
      const reapedAfter = second.count(/^job\d+:/);
      assertEquals(second.count(/error|Failed/i), 0, second.stderr);
      assert(reapedBefore + reapedAfter >= 500, `${reapedBefore} + ${reapedAfter} reaps`);
      assertEquals(left, reapedAfter, "the restart reaps exactly what was left");
      figure("sigkill-storm", {
        cgroups: 500,
        reapedBeforeKill: reapedBefore,
        deletedBeforeKill: deletedBefore,
        leftAtRestart: left,
        reapedAfterRestart: reapedAfter,
        leftoversAtEnd: leftovers(cg, "/s").length,
      });
    } finally {
      await first?.stop();
      await second?.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "unreadable cpu.stat (bind mount in the reaper's mount namespace): logged, still reaped",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const sleepers: Deno.ChildProcess[] = [];
    try {
      cg.mkdir("/s/bad");
      cg.mkdir("/s/good");
      // populated when the reaper starts, so both are reaped on their 1 -> 0
      // transition, with the mount in place (not by the start-up scan)
      sleepers.push(cg.spawnIn("/s/bad", "exec sleep 60"), cg.spawnIn("/s/good", "exec sleep 60"));
      await waitFor(
        () =>
          ["/s/bad", "/s/good"].every((p) =>
            Deno.readTextFileSync(cg.abs(p) + "/cgroup.procs") !== ""
          ),
        "the sleepers to be in place",
      );
      // A write-only sysctl: open(O_RDONLY) fails with EACCES even for root.
      // The mount lives only in the reaper's private mount namespace, so it
      // disappears with the reaper whatever happens to the test.
      const mount = `mount --bind /proc/sys/net/ipv4/route/flush '${cg.abs("/s/bad")}/cpu.stat'`;
      reaper = new Reaper(
        ["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"],
        [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          `${mount} && exec "$@"`,
          "sh",
        ],
      );
      await reaper.waitForLog(READY);
      await sleep(100);
      assert(cg.exists("/s/bad") && cg.exists("/s/good"), "populated: kept by the start-up scan");
      for (const s of sleepers.splice(0)) {
        s.kill("SIGKILL");
        await s.status;
      }
      await waitFor(() => !cg.exists("/s/bad") && !cg.exists("/s/good"), "both reaped");
      assertEquals(
        reaper.count(/'\/s\/bad': failed to read cpu\.stat: .*Permission denied/),
        1,
        reaper.stderr,
      );
      // no stats line for bad: without cpu.stat (and here no memory/pids
      // controllers) it has no fields, and a line without fields is not written
      assertEquals(reaper.count(/^bad:/), 0, reaper.stderr);
      assertMatch(reaper.stderr, /^good: cpu=/m);
      assertEquals(reaper.count(/error|Failed/i), 1, reaper.stderr);
      // and later cgroups are still served
      cg.mkdir("/s/later");
      await sleep(30);
      await cg.runIn("/s/later");
      await waitFor(() => !cg.exists("/s/later"), "later reaped");
    } finally {
      for (const s of sleepers) {
        s.kill("SIGKILL");
        await s.status;
      }
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

const FAILING = `
function cgroup_released(c)
  local kind = c.path:match("/(%a+)[^/]*$")
  if kind == "err" then error("boom in " .. c.path) end
  if kind == "yield" then coroutine.yield() end
  if kind == "loop" then while true do end end
  print("ok " .. c.path)
end
`;

Deno.test({
  name:
    "Lua handlers that raise, loop or park forever: others still reaped, one line per failure, memory bounded",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const dir = await Deno.makeTempDir({ prefix: "faults-lua-" });
    let reaper: Reaper | null = null;
    try {
      await Deno.writeTextFile(`${dir}/reaper.lua`, FAILING);
      cg.mkdir("/s");
      reaper = new Reaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/s",
        "--lua",
        `${dir}/reaper.lua`,
        "--lua-max-suspended",
        "100",
      ]);
      await reaper.waitForLog(READY);
      const scope = cg.abs("/s");
      // errors and loops interleaved with good ones
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) {
        for (const kind of ["err", "loop", "ok"]) {
          cg.mkdir(`/s/${kind}${i}`);
          await cg.runIn(`/s/${kind}${i}`);
        }
      }
      await waitFor(() => leftovers(cg, "/s").length === 0, "err/loop/ok reaped", 60_000);
      const failuresMs = Date.now() - t0;
      await waitFor(
        () => reaper!.stdout.split("\n").filter((l) => l.startsWith("ok ")).length === 3,
        "ok output",
      );
      assertEquals(
        reaper.count(/^Lua error in cgroup_released\('\/s\/err\d'\): .*boom in \/s\/err\d$/),
        3,
        reaper.stderr,
      );
      assertEquals(
        reaper.count(
          /^Lua error in cgroup_released\('\/s\/loop\d'\): .*instruction budget exceeded/,
        ),
        3,
        reaper.stderr,
      );

      // 2 x 500 handlers parking in coroutine.yield(), nobody resumes them
      await sleep(500);
      const rss = [reaper.rssKiB()];
      for (const round of [1, 2]) {
        await storm(scope, `yield${round}x`, 500);
        await waitFor(() => leftovers(cg, "/s").length === 0, "yield cgroups reaped", 60_000);
        await waitFor(
          () => reaper!.count(/cancelled: more than 100 handlers suspended/) === 500 * round - 100,
          "cancellations",
          30_000,
        );
        rss.push(reaper.rssKiB());
      }
      cg.mkdir("/s/ok9");
      await cg.runIn("/s/ok9");
      await waitFor(() => reaper!.stdout.includes("ok /s/ok9"), "a good handler after the storm");
      const errorLines = reaper.count(/^Lua error/);
      assertEquals(errorLines, 3 + 3 + 900, reaper.stderr.slice(-3000));
      assertEquals(
        reaper.count(/^cgroup_released|Failed to delete/),
        0,
        reaper.stderr.slice(-3000),
      );
      figure("lua-failures", {
        errAndLoopAndOk9CgroupsMs: failuresMs,
        yieldCgroups: "2 x 500",
        parkedCap: 100,
        rssKiB: rss.join(" -> "),
        firstDeltaKiB: rss[1] - rss[0],
        secondDeltaKiB: rss[2] - rss[1],
      });
      assert(rss[2] - rss[0] < 200 * 1024, `RSS grew ${rss[2] - rss[0]} KiB`);
    } finally {
      await reaper?.stop();
      await cg.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Flags (octal, as in /proc/PID/fdinfo) of every fd of pid. */
function fdFlags(pid: number): Map<number, { flags: number; target: string }> {
  const out = new Map<number, { flags: number; target: string }>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    const fd = Number(e.name);
    try {
      const info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`);
      const flags = parseInt(info.match(/^flags:\s+([0-7]+)$/m)![1], 8);
      out.set(fd, { flags, target: Deno.readLinkSync(`/proc/${pid}/fd/${fd}`) });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

const O_CLOEXEC = 0o2000000;

Deno.test({
  name:
    "every reaper fd beyond stdio is O_CLOEXEC (inherited ones too); os.execute passes only stdio",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const dir = await Deno.makeTempDir({ prefix: "faults-fd-" });
    let reaper: Reaper | null = null;
    // an fd the reaper inherits without FD_CLOEXEC, as a careless parent would pass it
    const leaked = open("/dev/null", O_RDONLY);
    try {
      setCloseOnExec(leaked, false);
      // a handler that suspends keeps the cgroup dir fd (and its dup) open
      await Deno.writeTextFile(
        `${dir}/reaper.lua`,
        `function cgroup_released(c)
           local x = c.xattr.foo
           os.execute("ls /proc/self/fd > ${dir}/child-fds")
           coroutine.yield()
         end`,
      );
      cg.mkdir("/s/job");
      reaper = new Reaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/s",
        "--lua",
        `${dir}/reaper.lua`,
        "--lua-allow-exec",
      ]);
      await reaper.waitForLog(READY);
      await cg.runIn("/s/job");
      await waitFor(() => {
        try {
          return Deno.readTextFileSync(`${dir}/child-fds`).length > 0;
        } catch {
          return false;
        }
      }, "the child's fd list");
      const flags = fdFlags(reaper.pid);
      const inheritable = [...flags].filter(([fd, f]) => fd > 2 && (f.flags & O_CLOEXEC) === 0);
      assertEquals(
        inheritable.map(([fd, f]) => `${fd} -> ${f.target}`),
        [],
        "fds without O_CLOEXEC",
      );
      assert(flags.size > 5, `the reaper has its fds (${flags.size})`);
      // ls lists its own fds: 0, 1, 2 and the one it reads /proc/self/fd with
      const childFds = Deno.readTextFileSync(`${dir}/child-fds`).trim().split("\n").map(Number);
      assertEquals(childFds.filter((fd) => fd > 3), [], `child fds ${childFds}`);
      assertEquals(flags.get(leaked)?.target, "/dev/null", "the inherited fd is there, marked");
      figure("reaper-fds", {
        fds: flags.size,
        withoutCloexec: inheritable.length,
        childFds: childFds.join(","),
      });
    } finally {
      close(leaked);
      await reaper?.stop();
      await cg.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---- issue 14: hostile names, paths past PATH_MAX, exhausted limits, a root that comes back ----

/** Runs a bash script (bash for $'\xNN' names) in dir; throws with its stderr. */
async function bash(script: string, wrapper: string[] = []): Promise<string> {
  const argv = [...wrapper, "bash", "-c", "set -e\n" + script];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`bash failed: ${new TextDecoder().decode(out.stderr)}\n${script}`);
  }
  return text;
}

/** Directories below dir, any depth, byte-exact (find -print0 counts them). */
async function countBelow(dir: string): Promise<number> {
  const out = await bash(`find '${dir}' -mindepth 1 -type d | wc -l`);
  return Number(out.trim());
}

const HEX_SCRIPT = `
function cgroup_released(c)
  print("HEX " .. (c.path:gsub(".", function(ch) return string.format("%02x", ch:byte()) end)))
  print("RAW", c.path)
end
`;

function hex(bytes: number[] | string): string {
  const b = typeof bytes === "string" ? [...new TextEncoder().encode(bytes)] : bytes;
  return b.map((x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name:
    "names that are not UTF-8 or hold control characters: reaped once, Lua gets the bytes, the log escapes them",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const script = await Deno.makeTempFile({ suffix: ".lua" });
    let reaper: Reaper | null = null;
    try {
      Deno.writeTextFileSync(script, HEX_SCRIPT);
      cg.mkdir("/s");
      reaper = new Reaper(["--cgroup-root", cg.path, "--scope", "/s", "--lua", script]);
      await reaper.waitForLog(READY);
      const run = (d: string) => `sh -c 'echo $$ > "$1/cgroup.procs" && exec true' sh ${d}`;
      await bash(`cd '${cg.abs("/s")}'
        mkdir $'caf\\xe9' && ${run("$'caf\\xe9'")}
        mkdir -p $'job/\\xff\\xfe' && ${run("$'job/\\xff\\xfe'")}
        mkdir $'esc\\x1b[31mred\\r' && ${run("$'esc\\x1b[31mred\\r'")}`); // cgroupfs refuses "\n" in names (EINVAL)
      await waitFor(
        () => reaper!.stdout.split("\n").filter((l) => l.startsWith("HEX ")).length >= 4,
        "four reaps",
        20_000,
      );
      await sleep(1500); // a parent reaped again would show up here
      const want = [
        hex("/s/caf") + "e9",
        hex("/s/job/") + "fffe",
        hex("/s/job"),
        hex("/s/esc") + "1b" + hex("[31mred") + "0d",
      ].sort();
      const got = reaper.stdout.split("\n").filter((l) => l.startsWith("HEX ")).map((l) =>
        l.slice(4)
      )
        .sort();
      assertEquals(got, want, "each exactly once, exact bytes");
      await waitFor(() => subdirectories(cg.abs("/s")).length === 0, "all deleted", 10_000);
      assert(await countBelow(cg.abs("/s")) === 0);
      const err = reaper.stderr;
      assert(/^caf\\xe9:/m.test(err), err);
      assert(/^job\/\\xff\\xfe:/m.test(err), err);
      assert(/^esc\\x1b\[31mred\\x0d:/m.test(err), err);
      assert(!err.includes("\x1b") && !err.includes("\r"), "no raw ESC or CR in the log");
      const out = reaper.stdout;
      assert(out.includes("RAW\t/s/esc\\x1b[31mred\\x0d\n"), "print escapes:\n" + out);
      assert(out.includes("RAW\t/s/caf\\xe9\n"), out);
      assert(!out.includes("\x1b") && !out.includes("\r"), "no raw ESC or CR from print");
    } finally {
      await reaper?.stop();
      await cg.cleanup();
      Deno.removeSync(script);
    }
  },
});

Deno.test({
  name:
    "a workload (uid 65534) nesting cgroups past PATH_MAX: no exit, its tree reaped, others served",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const name = "x".repeat(250);
    // 18 levels of 251 bytes: 4500 bytes below the job, past PATH_MAX (4096)
    const nest = (job: string, procs: boolean) =>
      bash(
        `cd '${cg.abs("/s/" + job)}'
         for i in $(seq 18); do mkdir ${name}; cd ${name}; done
         ${procs ? "sh -c 'echo $$ > cgroup.procs && exec true'" : "true"}`,
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
      );
    const delegate = (job: string) => {
      cg.mkdir(`/s/${job}`);
      for (const f of ["", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"]) {
        Deno.chownSync(cg.abs(`/s/${job}${f}`), 65534, 65534);
      }
    };
    try {
      cg.mkdir("/s");
      delegate("early");
      await nest("early", false);
      reaper = new Reaper(["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"]);
      await reaper.waitForLog(READY); // exited 1 with ENAMETOOLONG before
      await waitFor(() => !cg.exists("/s/early"), "the deep tree found at start-up reaped", 30_000);
      // While running: the workload nests again and runs a process at the bottom
      delegate("late");
      // the workload's process starts in its delegated cgroup
      await bash(
        `echo $$ > '${cg.abs("/s/late/cgroup.procs")}'
         exec setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '
           cd "$0"; for i in $(seq 18); do mkdir ${name}; cd ${name}; done
           sh -c "echo \\$\\$ > cgroup.procs && exec true"' '${cg.abs("/s/late")}'`,
      );
      await waitFor(() => !cg.exists("/s/late"), "the deep tree made while running reaped", 30_000);
      // and everyone else is still served
      cg.mkdir("/s/other");
      await cg.runIn("/s/other");
      await waitFor(() => !cg.exists("/s/other"), "another cgroup reaped", 10_000);
      assertEquals(reaper.exited, null);
      await reaper.stop(); // every line read
      assertEquals(reaper.count(/error|Failed/i), 0, reaper.stderr);
      assertEquals(reaper.count(/^late\/(x+\/){17}x+: .*cpu=/), 1, "the deepest, once");
      assertEquals(reaper.count(/^late\//), 18, "each level once");
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

/** The lowest fd number the process does not use: a limit there makes every open fail. */
function lowestFreeFd(pid: number): number {
  const used = new Set([...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => Number(e.name)));
  let n = 0;
  while (used.has(n)) n++;
  return n;
}

/** /s/job1../s/jobN, each with a sleeping process (cgroup.kill ends them). */
async function startSleepers(cg: TestCgroupRoot, n: number): Promise<void> {
  cg.mkdir("/s");
  await bash(`cd '${cg.abs("/s")}'; for i in $(seq ${n}); do mkdir job$i
    sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 1000' sh job$i >/dev/null 2>&1 & done`);
  await waitFor(
    () => Deno.readTextFileSync(cg.abs(`/s/job${n}/cgroup.events`)).includes("populated 1"),
    "the last job running",
  );
}

async function setNofile(pid: number, limit: number): Promise<void> {
  await bash(`prlimit --pid ${pid} --nofile=${limit}:`); // the soft limit only
}

Deno.test({
  name:
    "a burst of exits with no fd to spare: nothing deleted without its accounting, each billed once",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const n = 150;
    try {
      await startSleepers(cg, n);
      reaper = new Reaper(["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"]);
      await reaper.waitForLog(new RegExp(`\\(${n} cgroups found\\)`));
      await setNofile(reaper.pid, lowestFreeFd(reaper.pid));
      Deno.writeTextFileSync(cg.abs("/s/cgroup.kill"), "1"); // every job exits at once
      // A reap trades the cgroup's cgroup.events fd for the hook's directory
      // fd, so reaping goes on even at the limit; what cannot be read waits.
      const left = () => leftovers(cg, "/s").length;
      await waitFor(() => left() < n, "reaps begin at the limit", 20_000);
      // Each stats line is written before its deletion is queued (50 ms
      // later): a cgroup gone without its line was deleted unaccounted.
      const check = (settled: boolean) => {
        for (let i = 1; i <= n; i++) {
          const lines = reaper!.count(new RegExp(`^job${i}: .*cpu=`));
          if (!settled || cg.exists(`/s/job${i}`)) assert(lines <= 1, `job${i}: ${lines} lines`);
          else assertEquals(lines, 1, `job${i} deleted: billed exactly once, with its cpu time`);
        }
      };
      check(false);
      await sleep(2000);
      check(false);
      await setNofile(reaper.pid, 20000);
      await waitFor(() => left() === 0, "all reaped", 60_000);
      assertEquals(reaper.exited, null);
      await reaper.stop(); // every line read
      check(true);
      assert(reaper.count(/could not/) <= 1, "logged once:\n" + reaper.stderr);
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "start-up with too few fds (EMFILE): no exit, logged once, all caught up as fds free up",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const n = 300;
    try {
      cg.mkdir("/s");
      await bash(`cd '${cg.abs("/s")}'; for i in $(seq ${n}); do mkdir old$i; done`);
      reaper = new Reaper(
        ["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"],
        ["prlimit", "--nofile=200:200"],
      );
      await reaper.waitForLog(READY); // exited 1 before
      await reaper.waitForLog(/could not/);
      // Deno raises its soft limit to the hard one, and without
      // CAP_SYS_RESOURCE nobody can raise that again: fds free up as the
      // cgroups registered first are reaped, and the catch-up gets the rest.
      await waitFor(
        () => leftovers(cg, "/s").length === 0,
        () =>
          `all reaped:\n${reaper!.stderr.split("\n").filter((l) => !/^old/.test(l)).join("\n")}`,
        60_000,
      );
      assertEquals(reaper.exited, null);
      await reaper.stop(); // every line read
      assertEquals(reaper.count(/could not/), 1, reaper.stderr);
      const reaped = reaper.stderr.match(/^old\d+(?=:)/gm) ?? [];
      assertEquals(new Set(reaped).size, n, "each found at start-up reaped");
      assertEquals(reaped.length, n, "each once");
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name: "a cgroup root removed and re-created is watched again",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    try {
      cg.mkdir("/r/s");
      reaper = new Reaper(["--cgroup-root", cg.abs("/r"), "--scope", "/s", "--lua", "/dev/null"]);
      await reaper.waitForLog(READY);
      Deno.removeSync(cg.abs("/r/s"));
      Deno.removeSync(cg.abs("/r"));
      await reaper.waitForLog(/cgroup root is gone/);
      cg.mkdir("/r/s/job");
      await reaper.waitForLog(/watching the cgroup root/);
      await cg.runIn("/r/s/job");
      await waitFor(() => !cg.exists("/r/s/job"), "a cgroup below the new root reaped", 30_000);
      assertEquals(reaper.count(/^job: /), 1);
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name:
    "example script: a workload's own xattrs (uid 65534) cannot set the account or forge a line",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const example = new URL("../../reaper/lua/example_reaper.lua", import.meta.url).pathname;
    const forged = "alice\\nreleased /forged account=alice cpu=999";
    try {
      cg.mkdir("/bp-spawn.scope");
      reaper = new Reaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/bp-spawn.scope",
        "--lua",
        example,
      ]);
      await reaper.waitForLog(READY);
      // made after start-up, so nothing is reaped before the workload ran
      cg.mkdir("/bp-spawn.scope/job/wl");
      // the spawner's level: root-owned, account set by root
      await bash(
        `/usr/bin/python3 -c 'import os; os.setxattr("${
          cg.abs("/bp-spawn.scope/job")
        }", "user.account", b"bob")'`,
      );
      // the workload's delegated cgroup
      for (const f of ["", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"]) {
        Deno.chownSync(cg.abs(`/bp-spawn.scope/job/wl${f}`), 65534, 65534);
      }
      await bash(
        `echo $$ > '${cg.abs("/bp-spawn.scope/job/wl/cgroup.procs")}'
         exec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import os
wl = "${cg.abs("/bp-spawn.scope/job/wl")}"
x = wl + "/evil.scope/x"
os.makedirs(x)
for d in (wl, wl + "/evil.scope", x):
    os.setxattr(d, "user.account", b"${forged}")
pid = os.fork()
if pid == 0:
    with open(x + "/cgroup.procs", "w") as f: f.write(str(os.getpid()))
    os._exit(0)
os.waitpid(pid, 0)
'`,
      );
      await waitFor(() => !cg.exists("/bp-spawn.scope/job"), "all reaped", 20_000);
      await reaper.stop(); // every line read
      const lines = reaper.stdout.split("\n").filter((l) => l !== "");
      assertEquals(lines.length, 4, reaper.stdout); // x, evil.scope, wl, job
      for (const line of lines) assertMatch(line, /^released \S+ account=bob /);
      assert(!reaper.stdout.includes("/forged"), reaper.stdout);
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});

Deno.test({
  name:
    "inotify watches exhausted (ENOSPC) at start-up and while running: no exit, logged once per episode, all billed once as watches free up",
  ...opts,
  fn: async () => {
    const cg = new TestCgroupRoot();
    let reaper: Reaper | null = null;
    const n = 60;
    try {
      await startSleepers(cg, n);
      // A user namespace of its own (root mapped to root) has its own watch
      // limit (user.max_inotify_watches): only this daemon is short.
      reaper = new Reaper(
        ["--cgroup-root", cg.path, "--scope", "/s", "--lua", "/dev/null"],
        [
          "unshare",
          "-U",
          "--map-user=0",
          "--map-group=0",
          "bash",
          "-c",
          'echo 40 > /proc/sys/user/max_inotify_watches && exec "$@"',
          "bash",
        ],
      );
      await reaper.waitForLog(READY); // exited 1 before
      await reaper.waitForLog(/could not register \d+ cgroups .*ENOSPC/);
      Deno.writeTextFileSync(cg.abs("/s/cgroup.kill"), "1");
      await waitFor(() => leftovers(cg, "/s").length === 0, "all reaped", 60_000);
      await reaper.waitForLog(/caught up/);
      // While running: more jobs than watches again; those that could not be
      // watched are registered once watches free up (they stayed before).
      await bash(`cd '${cg.abs("/s")}'; for i in $(seq ${n}); do mkdir late$i
        sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 1000' sh late$i >/dev/null 2>&1 & done`);
      await waitFor(
        () => Deno.readTextFileSync(cg.abs(`/s/late${n}/cgroup.events`)).includes("populated 1"),
        "the last late job running",
      );
      await sleep(500);
      Deno.writeTextFileSync(cg.abs("/s/cgroup.kill"), "1");
      await waitFor(() => leftovers(cg, "/s").length === 0, "all late ones reaped", 60_000);
      assertEquals(reaper.exited, null);
      await reaper.stop(); // every line read
      for (let i = 1; i <= n; i++) {
        assertEquals(reaper.count(new RegExp(`^job${i}: .*cpu=`)), 1, `job${i} billed once`);
        assertEquals(reaper.count(new RegExp(`^late${i}: .*cpu=`)), 1, `late${i} billed once`);
      }
      assertEquals(reaper.count(/could not register/), 2, "once per episode:\n" + reaper.stderr);
    } finally {
      await reaper?.stop();
      await cg.cleanup();
    }
  },
});
