// The .deb under a real systemd: a fresh Debian bookworm container (systemd
// as PID 1) per cgroup layout, the package installed with dpkg -i and driven
// with systemctl and journalctl: install, the accessory (socket activation,
// refusal, crash and adoption, stop), the reaper (scope cgroups reaped, the
// journal, reload, a broken script, PostgreSQL), network namespaces, upgrade
// and purge. One boot per layout: the steps build on each other in order.
import { assert, assertEquals, assertMatch, assertNotEquals } from "../assert.ts";
import { verifiableUnitNames } from "../../packaging/layout.ts";
import { POOL_PROGRAM_EXE, poolProgramImage } from "../../accessory/pool_program.ts";
import { kernelTakesCustomSlices } from "../accessory/harness.ts";
import { bootableLayouts, cannotBoot, Container, type Layout, waitFor } from "./container.ts";
import { ensureRoot } from "./root.ts";
import {
  cgroup2Mount,
  count,
  exists,
  exposure,
  journal,
  livePackages,
  nameIdentity,
  NEXT_VERSION,
  PACKAGE_DIR_INSIDE,
  show,
  waitJournal,
  waitRunning,
  withExecStart,
  writeFile,
} from "./live.ts";

const ACCESSORY = "cm4all-spawn-accessory.service";
const SOCKET = "cm4all-spawn-accessory.socket";
const REAPER = "cm4all-spawn-reaper.service";
const REAPER_LUA = "/etc/cm4all/spawn/reaper.lua";
const SETUP_D = "/etc/cm4all/spawn/netns/setup.d";
const SCOPE = "/system.slice/system-cm4all.slice/bp-spawn.scope";

/**
 * `systemd-analyze security` ceilings (the figures after tightening, see
 * units/): a unit change that loosens the sandbox fails here.
 */
const EXPOSURE_CEILING: Record<string, number> = {
  [ACCESSORY]: 2.2, // 2.9 before
  [REAPER]: 1.7, // 2.0 before
  "cm4all-spawn-netns@example.service": 4.7, // 6.8 before
};
const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const SOURCE_INSIDE = "/mnt/src";

const skip = cannotBoot();
if (skip !== null) console.log(`tests/systemd: skipped (${skip})`);

/** Steps of issue 13 items 1–3 that need cm4all-spawnctl, STATUS= and journal fields. */
async function hasOpsFeatures(c: Container): Promise<boolean> {
  const present = await exists(c, "/usr/sbin/cm4all-spawnctl");
  if (!present) {
    console.log(
      "tests/systemd: the package has no cm4all-spawnctl yet: STATUS=, journal-field and " +
        "cm4all-spawnctl steps skipped (issue 13 items 1–3)",
    );
  }
  return present;
}

async function liveTest(t: Deno.TestContext, layout: Layout): Promise<void> {
  const root = await ensureRoot((line) => console.log(`tests/systemd: ${line}`));
  const pkg = await livePackages();
  const c = await Container.boot({
    layout,
    root,
    bind: { [pkg.dir]: PACKAGE_DIR_INSIDE, [REPO]: SOURCE_INSIDE },
  });
  try {
    await steps(t, c, pkg);
  } finally {
    await c.powerOff();
  }
}

async function steps(
  t: Deno.TestContext,
  c: Container,
  pkg: { first: string; next: string },
): Promise<void> {
  const cgroupMount = await cgroup2Mount(c);
  const expectedMount = c.layout === "unified" ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
  assertEquals(cgroupMount, expectedMount, "the container's cgroup layout");

  await t.step("install: dpkg -i, the sysusers user, enable --now", async () => {
    await c.run(["dpkg", "-i", pkg.first]);
    const passwd = (await c.run(["getent", "passwd", "cm4all-spawn-reaper"])).trim().split(":");
    assert(Number(passwd[2]) > 0 && Number(passwd[2]) < 1000, `a system uid: ${passwd}`);
    assertMatch(passwd[6], /nologin$/);
    // Installing enables and starts nothing (the admin does, below).
    assertEquals((await show(c, REAPER, ["ActiveState"])).ActiveState, "inactive");
    assertEquals((await show(c, SOCKET, ["ActiveState"])).ActiveState, "inactive");
    await c.run(["systemctl", "enable", "--now", SOCKET, REAPER]);
    for (const unit of [SOCKET, REAPER]) {
      const s = await show(c, unit, ["ActiveState", "UnitFileState"]);
      assertEquals(s, { ActiveState: "active", UnitFileState: "enabled" }, unit);
    }
    assert(await exists(c, `/etc/systemd/system/sockets.target.wants/${SOCKET}`));
    assert(await exists(c, `/etc/systemd/system/multi-user.target.wants/${REAPER}`));
  });

  await t.step("install: systemd-analyze verify of the installed units is clean", async () => {
    const out = await c.exec(["systemd-analyze", "verify", "--man=no", ...verifiableUnitNames()]);
    assertEquals(out.stdout + out.stderr, "");
    assertEquals(out.code, 0);
  });

  await t.step("install: systemd-analyze security of each service", async () => {
    const figures: string[] = [];
    for (const [unit, ceiling] of Object.entries(EXPOSURE_CEILING)) {
      const level = await exposure(c, unit);
      figures.push(`${unit} ${level.toFixed(1)}`);
      assert(level <= ceiling, `${unit}: exposure ${level} > ${ceiling}`);
    }
    console.log(`tests/systemd (${c.layout}): systemd-analyze security: ${figures.join(", ")}`);
  });

  let web1: Awaited<ReturnType<typeof nameIdentity>>;
  await t.step(
    "accessory: socket activation by a first client, ready through Type=notify",
    async () => {
      assertEquals((await show(c, ACCESSORY, ["ActiveState"])).ActiveState, "inactive");
      web1 = await nameIdentity(c, "web1");
      const s = await show(c, ACCESSORY, ["Type", "TriggeredBy"]);
      assertEquals(s.Type, "notify");
      assertEquals(s.TriggeredBy, SOCKET);
      // Type=notify: active/running only once the daemon sent READY=1.
      const pid = await waitRunning(c, ACCESSORY);
      const daemon = await show(c, ACCESSORY, ["MainPID", "NRestarts"]);
      assertEquals(daemon.MainPID, String(pid));
      assertEquals(daemon.NRestarts, "0");
      const cgroup = await c.run(["cat", `/proc/${web1.initPid}/cgroup`]);
      assertMatch(cgroup, /system-cm4all\.slice\/cm4all-spawn-accessory\.service$/m);
      assertMatch(await journal(c, ACCESSORY), /"web1": new PID namespace, init pid \d+/);
    },
  );

  await t.step(
    "accessory: a user namespace with uid/gid maps (CAP_SETUID/SETGID only)",
    async () => {
      // The package's own deno runs the repository's client library.
      const client = [
        "/usr/lib/cm4all/spawn/deno",
        "run",
        "-A",
        "--no-config",
        "--no-lock",
        `${SOURCE_INSIDE}/tests/systemd/userns_client.ts`,
        "web1",
      ];
      const first = (await c.run(client)).trim();
      assertMatch(first, /^ipc:\[\d+\] user:\[\d+\]$/);
      assertEquals(first.split(" ")[0], web1.ipcNamespace, "web1's IPC namespace");
      assertEquals((await c.run(client)).trim(), first, "the same map: the cached user namespace");
    },
  );

  await t.step("accessory: a non-root client is refused", async () => {
    const out = await c.exec([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "cm4all-spawn-client",
      "web1",
      "true",
    ]);
    assertEquals(out.code, 1, out.stderr);
    assertMatch(out.stderr, /Permission denied: uid 65534 may not request namespaces/);
    await waitJournal(c, ACCESSORY, /uid 65534/);
  });

  await t.step(
    "accessory: the pool program (from a memfd) made the init, under the unit's sandbox",
    async () => {
      if (poolProgramImage() === null) return; // the perl factory on this machine
      const exe = (await c.run(["readlink", `/proc/${web1.initPid}/exe`])).trim();
      assertEquals(exe, POOL_PROGRAM_EXE);
      const log = await c.run(["journalctl", "-u", ACCESSORY, "--no-pager", "-o", "cat"]);
      assert(!/cannot start the pool program/.test(log), log);
    },
  );

  await t.step("accessory: killed (main only), restarted, adopts the same inits", async () => {
    const before = await waitRunning(c, ACCESSORY);
    await c.run(["systemctl", "kill", "--kill-whom=main", "-s", "KILL", ACCESSORY]);
    const after = await waitRunning(c, ACCESSORY, before);
    assertNotEquals(after, before);
    assertEquals((await show(c, ACCESSORY, ["NRestarts"])).NRestarts, "1");
    await waitJournal(c, ACCESSORY, new RegExp(`"web1": adopted init pid ${web1.initPid} `));
    assertEquals(await nameIdentity(c, "web1"), web1, "same init pid, same namespaces");
  });

  await t.step("accessory: systemctl stop leaves no init behind", async () => {
    await c.run(["systemctl", "stop", ACCESSORY]);
    assertEquals((await show(c, ACCESSORY, ["ActiveState"])).ActiveState, "inactive");
    assertEquals((await c.exec(["pgrep", "-x", "init-web1"])).code, 1, "init-web1 still runs");
    const unitCgroup = `${cgroupMount}/system.slice/system-cm4all.slice/${ACCESSORY}`;
    const procs = await c.exec(["cat", `${unitCgroup}/cgroup.procs`]);
    assertEquals(procs.stdout.trim(), "", "processes left in the unit's cgroup");
    // The socket still listens: the next client starts it again.
    assertEquals((await show(c, SOCKET, ["ActiveState"])).ActiveState, "active");
  });

  await t.step("accessory: bad options fail the unit, no restart loop", async () => {
    await withExecStart(
      c,
      ACCESSORY,
      "/usr/sbin/cm4all-spawn-accessory --no-such-option",
      async () => {
        assertNotEquals((await c.exec(["systemctl", "start", ACCESSORY])).code, 0);
        const s = await show(c, ACCESSORY, ["ActiveState", "SubState", "ExecMainStatus"]);
        assertEquals(s, { ActiveState: "failed", SubState: "failed", ExecMainStatus: "2" });
        // (An explicit start resets the counter; a restart loop would raise it.)
        assertEquals((await show(c, ACCESSORY, ["NRestarts"])).NRestarts, "0");
        assertMatch(await journal(c, ACCESSORY), /unknown option '--no-such-option'/);
      },
      ["reset-failed", ACCESSORY],
    );
  });

  await t.step(
    "accessory: --cpu-slice in an ExecStart= override, under the unit's sandbox",
    async () => {
      if (!kernelTakesCustomSlices()) return; // a kernel before 6.12
      await withExecStart(
        c,
        ACCESSORY,
        "/usr/sbin/cm4all-spawn-accessory --cpu-slice 100",
        async () => {
          const sliced = await nameIdentity(c, "sliced"); // the socket starts the daemon
          const sched = await c.run(["cat", `/proc/${sliced.initPid}/sched`]);
          assertMatch(sched, /^se\.slice\s+:\s+100000$/m);
          const log = await journal(c, ACCESSORY);
          assertMatch(log, /CPU slice 100 µs/);
          assert(!/--cpu-slice 100:/.test(log), log); // no refusal (seccomp, capabilities)
        },
        ["stop", ACCESSORY],
      );
    },
  );

  await t.step("reaper: its unprivileged user and the shipped hardening", async () => {
    const pid = await waitRunning(c, REAPER);
    const status = await c.run(["cat", `/proc/${pid}/status`]);
    const uid = (await c.run(["id", "-u", "cm4all-spawn-reaper"])).trim();
    assertMatch(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, "m"));
    assertMatch(status, /^CapEff:\s+0000000000000002$/m, "only CAP_DAC_OVERRIDE");
    assertMatch(status, /^NoNewPrivs:\s+1$/m);
    assertMatch(status, /^Seccomp:\s+2$/m);
  });

  const scope = c.spawn([
    "systemd-run",
    "--scope",
    "--unit=bp-spawn",
    "--slice=system-cm4all.slice",
    "-p",
    "Delegate=yes",
    "sleep",
    "infinity",
  ]);
  try {
    await reaperSteps(t, c, cgroupMount);
  } finally {
    await c.exec(["systemctl", "stop", "bp-spawn.scope"]);
    try {
      scope.kill("SIGKILL");
    } catch { /* ended with the scope */ }
    await scope.status;
  }

  await netnsSteps(t, c);

  const ops = await hasOpsFeatures(c);
  await t.step({
    name: "STATUS= in systemctl status, journal fields, cm4all-spawnctl at the default paths",
    ignore: !ops,
    fn: async () => {
      await nameIdentity(c, "web2");
      // STATUS= follows a change within a second.
      const statusText = async (unit: string, pattern: RegExp) => {
        let last = "";
        try {
          await waitFor(`STATUS= of ${unit}`, async () => {
            last = (await show(c, unit, ["StatusText"])).StatusText;
            return pattern.test(last) ? last : undefined;
          });
        } catch {
          throw new Error(`STATUS= of ${unit}: ${JSON.stringify(last)} does not match ${pattern}`);
        }
      };
      await statusText(
        ACCESSORY,
        /^[\d,]+ names? \([\d,]+ PID, [\d,]+ user namespaces?\), [\d,]+ leases?; [\d,]+ requests?, [\d,]+ refused$/,
      );
      await statusText(REAPER, /^[\d,]+ scopes?, [\d,]+ cgroups? watched; /);
      assertMatch(await c.run(["systemctl", "status", "--no-pager", REAPER]), /Status: "/);
      const fields = await c.run([
        "journalctl",
        "-u",
        REAPER,
        `SPAWN_CGROUP=${SCOPE}/job1`,
        "-o",
        "json",
        "--no-pager",
      ]);
      const entries = fields.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
      assertEquals(entries.length, 1, fields);
      assertMatch(entries[0].MESSAGE, /job1: cpu=/);
      assert(entries[0].SPAWN_CPU_USER_USEC !== undefined, "SPAWN_CPU_USER_USEC");
      const names = JSON.parse(await c.run(["cm4all-spawnctl", "names", "--json"]));
      assert(names.version !== undefined, "names --json has a version");
      assertMatch(JSON.stringify(names), /"web2"/);
      const reaperState = JSON.parse(await c.run(["cm4all-spawnctl", "reaper", "--json"]));
      assert(reaperState.version !== undefined, "reaper --json has a version");
      assertMatch(await c.run(["cm4all-spawnctl", "metrics"]), /^# EOF$/m);
      // The shipped metrics service (its timer is disabled by default), into
      // node_exporter's textfile directory.
      const prom = "/var/lib/prometheus/node-exporter";
      await c.run(["mkdir", "-p", prom]);
      await c.run(["systemctl", "start", "cm4all-spawn-metrics.service"]);
      const written = await c.run(["cat", `${prom}/cm4all-spawn.prom`]);
      assertMatch(written, /^cm4all_spawn_accessory_up 1$/m);
      assertMatch(written, /^# EOF$/m);
      const refused = await c.exec([
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "cm4all-spawnctl",
        "names",
      ]);
      assertNotEquals(refused.code, 0, "a non-root cm4all-spawnctl is refused");
    },
  });

  await t.step(
    "upgrade: dpkg -i of a newer build restarts the daemons; names survive",
    async () => {
      const upg = await nameIdentity(c, "upg1");
      const accessoryBefore = await waitRunning(c, ACCESSORY);
      const reaperBefore = await waitRunning(c, REAPER);
      await c.run(["dpkg", "-i", pkg.next]);
      assertEquals(
        await c.run(["dpkg-query", "-W", "-f", "${Version}", "cm4all-spawn"]),
        NEXT_VERSION,
      );
      await waitRunning(c, REAPER, reaperBefore);
      await waitRunning(c, ACCESSORY, accessoryBefore);
      await waitJournal(c, ACCESSORY, /SIGUSR2: exiting, leaving the names to the next start/);
      await waitJournal(c, ACCESSORY, new RegExp(`"upg1": adopted init pid ${upg.initPid} `));
      assertEquals(await nameIdentity(c, "upg1"), upg, "same init pid, same namespaces");
      for (const unit of [SOCKET, REAPER]) {
        assertEquals((await show(c, unit, ["UnitFileState"])).UnitFileState, "enabled", unit);
      }
    },
  );

  await t.step("purge: daemons stopped, files and enablement links gone", async () => {
    // The hard case: the accessory handed its names over (SIGUSR2) and was
    // not started again, so no daemon is there to end the inits.
    await waitRunning(c, ACCESSORY);
    await c.run(["systemctl", "kill", "--kill-whom=main", "-s", "USR2", ACCESSORY]);
    await waitFor("the accessory gone", async () => {
      const s = await show(c, ACCESSORY, ["ActiveState"]);
      return s.ActiveState === "inactive" ? true : undefined;
    });
    assertEquals(
      (await c.exec(["pgrep", "-x", "init-upg1"])).code,
      0,
      "the init waits for adoption",
    );
    // An instance the admin enabled (deb-systemd-helper knows no instance names).
    await c.run(["systemctl", "enable", "cm4all-spawn-netns@tn3.service"]);
    const wants = "/etc/systemd/system/multi-user.target.wants";
    assert(await exists(c, `${wants}/cm4all-spawn-netns@tn3.service`));
    await c.run(["dpkg", "--purge", "cm4all-spawn"]);
    assertEquals(
      (await c.exec(["pgrep", "-f", "/usr/lib/cm4all/spawn/"])).code,
      1,
      "a daemon runs",
    );
    assertEquals((await c.exec(["pgrep", "-x", "init-upg1"])).code, 1, "an init runs");
    for (const path of ["/usr/lib/cm4all", "/etc/cm4all", `/lib/systemd/system/${REAPER}`]) {
      assert(!(await exists(c, path)), `${path} left behind`);
    }
    assertEquals(await c.run(["find", "/etc/systemd/system", "-name", "cm4all*"]), "");
    const units = await c.run(["systemctl", "list-units", "--all", "--plain", "--no-legend"]);
    assert(!units.includes("cm4all-spawn"), `units still listed:\n${units}`);
    const failed = await c.run(["systemctl", "--failed", "--plain", "--no-legend"]);
    assertEquals(failed, "", "failed units");
  });
}

async function reaperSteps(t: Deno.TestContext, c: Container, cgroupMount: string) {
  const scopeDir = `${cgroupMount}${SCOPE}`;
  /** Creates child cgroups of the scope, runs a process in each, waits until the reaper deleted them. */
  async function releaseCgroups(names: string[]): Promise<void> {
    for (const name of names) {
      await c.run(["mkdir", `${scopeDir}/${name}`]);
      await c.run([
        "sh",
        "-c",
        'echo $$ > "$0/cgroup.procs" && exec sh -c "i=0; while [ \\$i -lt 2000 ]; do i=\\$((i+1)); done"',
        `${scopeDir}/${name}`,
      ]);
    }
    await waitFor(`${names.join(", ")} reaped`, async () => {
      for (const name of names) if (await exists(c, `${scopeDir}/${name}`)) return undefined;
      return true;
    });
  }

  await t.step(
    "reaper: a spawner's delegated scope; child cgroups run empty and are reaped",
    async () => {
      await waitFor("bp-spawn.scope", async () => {
        const s = await show(c, "bp-spawn.scope", ["ActiveState", "Delegate"]);
        return s.ActiveState === "active" ? s : undefined;
      });
      assertEquals((await show(c, "bp-spawn.scope", ["Delegate"])).Delegate, "yes");
      await releaseCgroups(["job1", "job2"]);
      const text = await waitJournal(c, REAPER, new RegExp(`released ${SCOPE}/job2 `));
      // The daemon's stats line, then the example script's line, for each.
      for (const job of ["job1", "job2"]) {
        assertMatch(text, new RegExp(`^${job}: cpu=\\d+\\.\\ds/`, "m"));
        assertMatch(text, new RegExp(`^released ${SCOPE}/${job} account=- .*cpu=\\d`, "m"));
      }
      assert(await exists(c, scopeDir), "the scope itself stays");
    },
  );

  await t.step("reaper: systemctl reload runs the script's reload()", async () => {
    const before = count(await journal(c, REAPER), /^reaper\.lua: reload requested$/m);
    const pid = await waitRunning(c, REAPER);
    await c.run(["systemctl", "reload", REAPER]);
    await waitFor("reload() output", async () => {
      const n = count(await journal(c, REAPER), /^reaper\.lua: reload requested$/m);
      return n === before + 1 ? true : undefined;
    });
    assertEquals(await waitRunning(c, REAPER), pid, "reload is no restart");
  });

  const original = await c.run(["cat", REAPER_LUA]);
  try {
    await t.step("reaper: a script that cannot load fails the unit, no restart loop", async () => {
      await writeFile(c, REAPER_LUA, "function cgroup_released(c) this is not lua end\n");
      const restart = await c.exec(["systemctl", "restart", REAPER]);
      assertNotEquals(restart.code, 0, "the start must fail");
      const s = await show(c, REAPER, [
        "ActiveState",
        "SubState",
        "Result",
        "ExecMainStatus",
        "NRestarts",
      ]);
      // Restart=on-failure would show activating/auto-restart here, then
      // five more failures until the start limit.
      assertEquals(s, {
        ActiveState: "failed",
        SubState: "failed",
        Result: "exit-code",
        ExecMainStatus: "78",
        NRestarts: "0",
      });
      const text = await journal(c, REAPER);
      assertMatch(text, /\/etc\/cm4all\/spawn\/reaper\.lua:1: syntax error near 'is'/);
      assertEquals(count(text, /reaper\.lua:1: syntax error/), 1, "started once");
      const status = await c.exec(["systemctl", "status", "--no-pager", "-n", "20", REAPER]);
      assertMatch(status.stdout, /reaper\.lua:1: syntax error/);
    });

    await t.step(
      "reaper: a PostgreSQL server in the container receives the script's rows",
      async () => {
        await c.run(["systemctl", "start", "postgresql@15-main.service"]);
        const psql = (database: string, sql: string) =>
          c.run([
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-qtA",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
            "-c",
            sql,
          ]);
        await psql("postgres", 'CREATE ROLE "cm4all-spawn-reaper" LOGIN');
        await psql("postgres", 'CREATE DATABASE accounting OWNER "cm4all-spawn-reaper"');
        await psql(
          "accounting",
          "CREATE TABLE released (path text NOT NULL, cpu double precision); " +
            'ALTER TABLE released OWNER TO "cm4all-spawn-reaper"',
        );
        // Peer authentication over the Unix socket, as the unit's user.
        await writeFile(
          c,
          REAPER_LUA,
          `db = pg:new('dbname=accounting')
function cgroup_released(cgroup)
  assert(db:execute('INSERT INTO released (path, cpu) VALUES ($1, $2)',
                    {cgroup.path, cgroup.cpu_total}))
  print('stored ' .. cgroup.path)
end
`,
        );
        await c.run(["systemctl", "reset-failed", REAPER]);
        await c.run(["systemctl", "start", REAPER]);
        await releaseCgroups(["job-pg"]);
        await waitJournal(c, REAPER, new RegExp(`^stored ${SCOPE}/job-pg$`, "m"));
        const rows = await psql("accounting", "SELECT path, cpu > 0 FROM released");
        assertEquals(rows, `${SCOPE}/job-pg|t\n`);
      },
    );
  } finally {
    await writeFile(c, REAPER_LUA, original);
    await c.exec(["systemctl", "reset-failed", REAPER]);
    await c.exec(["systemctl", "restart", REAPER]);
  }
  await waitRunning(c, REAPER);
}

async function netnsSteps(t: Deno.TestContext, c: Container) {
  const netnsList = async () =>
    (await c.run(["ip", "netns", "list"])).split("\n").map((l) => l.split(" ")[0]);
  const linkExists = async (name: string) =>
    (await c.exec(["ip", "link", "show", name])).code === 0;
  try {
    await t.step("netns@NAME: namespace, veth pair, setup.d script; stop removes all", async () => {
      await writeFile(
        c,
        `${SETUP_D}/tn1`,
        `#!/bin/sh
set -e
ip addr add 10.213.0.2/24 dev "$1"
echo "setup.d/tn1: configured $1"
`,
        "755",
      );
      await c.run(["systemctl", "start", "cm4all-spawn-netns@tn1.service"]);
      const s = await show(c, "cm4all-spawn-netns@tn1.service", ["ActiveState", "SubState"]);
      assertEquals(s, { ActiveState: "active", SubState: "exited" });
      assert((await netnsList()).includes("tn1"), "namespace tn1");
      assert(await linkExists("tn1"), "host side tn1");
      const inside = await c.run([
        "ip",
        "netns",
        "exec",
        "tn1",
        "ip",
        "-o",
        "addr",
        "show",
        "dev",
        "net0",
      ]);
      assertMatch(inside, /inet 10\.213\.0\.2\/24/);
      const peer = await c.run(["ip", "netns", "exec", "tn1", "ip", "-o", "link", "show", "net0"]);
      assertMatch(peer, /net0@if\d+:.*state (UP|LOWERLAYERDOWN)/);
      await waitJournal(c, "cm4all-spawn-netns@tn1.service", /setup\.d\/tn1: configured net0/);

      await c.run(["systemctl", "stop", "cm4all-spawn-netns@tn1.service"]);
      assert(!(await netnsList()).includes("tn1"), "namespace tn1 left");
      assert(!(await linkExists("tn1")), "veth tn1 left");
      assert(!(await exists(c, "/run/netns/tn1")), "/run/netns/tn1 left");
    });

    await t.step(
      "netns@NAME: a failing setup script fails the unit and leaves nothing",
      async () => {
        await writeFile(
          c,
          `${SETUP_D}/tn2`,
          '#!/bin/sh\necho "setup.d/tn2: refusing"\nexit 3\n',
          "755",
        );
        const start = await c.exec(["systemctl", "start", "cm4all-spawn-netns@tn2.service"]);
        assertNotEquals(start.code, 0);
        const s = await show(c, "cm4all-spawn-netns@tn2.service", ["ActiveState", "Result"]);
        assertEquals(s, { ActiveState: "failed", Result: "exit-code" });
        assert(!(await netnsList()).includes("tn2"), "namespace tn2 left");
        assert(!(await linkExists("tn2")), "veth tn2 left");
        assert(!(await exists(c, "/run/netns/tn2")), "/run/netns/tn2 left");
        await waitJournal(c, "cm4all-spawn-netns@tn2.service", /setup\.d\/tn2: refusing/);
      },
    );
  } finally {
    await c.exec(["systemctl", "stop", "cm4all-spawn-netns@tn1.service"]);
    await c.exec(["systemctl", "reset-failed", "cm4all-spawn-netns@tn2.service"]);
    await c.exec(["rm", "-f", `${SETUP_D}/tn1`, `${SETUP_D}/tn2`]);
  }
}

for (const layout of ["unified", "hybrid"] as const) {
  const unavailable = skip ?? (bootableLayouts().includes(layout) ? null : "a pure cgroup2 host");
  Deno.test({
    name: `the .deb under a live systemd (${layout === "unified" ? "cgroup2" : "hybrid cgroups"})`,
    ignore: unavailable !== null,
    fn: (t) => liveTest(t, layout),
  });
}
