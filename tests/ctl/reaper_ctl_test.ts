// The reaper daemon, run for real on a private cgroup2 subtree: STATUS=,
// the stats line's journal fields, `cm4all-spawnctl reaper` during a storm
// of released cgroups and with PostgreSQL down, metrics parsed back.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { CANNOT_RUN, TestCgroupRoot } from "../reaper/cgroup_fixture.ts";
import { ReaperProcess } from "../reaper/reaper_process.ts";
import { PgTestServer } from "../pg/pg_server.ts";
import type { ReaperResponse } from "../../shared/control_protocol.ts";
import {
  DatagramSink,
  eventually,
  journalWrapper,
  parseOpenMetrics,
  spawnctl,
  spawnctlJson,
} from "./ctl_harness.ts";

const opts = { ignore: CANNOT_RUN, sanitizeOps: false, sanitizeResources: false };

const SCRIPT = `
function cgroup_released(cgroup)
  if cgroup.path:find("/bad") then error("boom in " .. cgroup.path) end
  if cgroup.path:find("/park") then coroutine.yield() end
end
`;

Deno.test(
  "reaper: STATUS=, stats line fields, spawnctl reaper during a storm, metrics",
  opts,
  async (t) => {
    const root = new TestCgroupRoot();
    const dir = Deno.makeTempDirSync({ prefix: "ctl-reaper-" });
    const notify = new DatagramSink(`${dir}/notify`);
    const journal = new DatagramSink(`${dir}/journal`);
    const control = `${dir}/control`;
    Deno.writeTextFileSync(`${dir}/reaper.lua`, SCRIPT);
    root.mkdir("/a.scope");
    root.mkdir("/b.scope");
    root.mkdir("/a.scope/held");
    const sleeper = root.spawnIn("/a.scope/held", "exec sleep 600");
    let daemon: ReaperProcess | null = null;
    try {
      const env = `NOTIFY_SOCKET=${notify.path} SPAWN_JOURNAL_SOCKET=${journal.path}`;
      daemon = new ReaperProcess(
        [
          "--cgroup-root",
          root.path,
          "--scope",
          "/a.scope",
          "--scope",
          "/b.scope",
          "--scope",
          "/missing.scope",
          "--lua",
          `${dir}/reaper.lua`,
          "--control",
          control,
        ],
        ["env", ...env.split(" "), ...journalWrapper()],
      );
      await eventually(() => notify.texts().includes("READY=1"), () => daemon!.stderr);
      root.mkdir("/a.scope/fresh"); // after the start-up scan, never populated: not reaped
      await eventually(() => (Deno.readTextFileSync(`${root.abs("/a.scope/held")}/cgroup.events`)
        .includes("populated 1")), () => "sleeper not in place");

      const STORM = 120;
      await t.step(
        "spawnctl reaper answers during a storm; the figures add up after it",
        async () => {
          const names = Array.from(
            { length: STORM },
            (_, i) => `/${i % 2 ? "a" : "b"}.scope/c${i}`,
          );
          const storm = (async () => {
            for (let i = 0; i < names.length; i += 8) {
              await Promise.all(
                names.slice(i, i + 8).map(async (name) => {
                  root.mkdir(name);
                  await root.runIn(name);
                }),
              );
            }
          })();
          const seen: number[] = [];
          let done = false;
          storm.finally(() => done = true);
          while (!done) {
            const answer = await spawnctlJson<ReaperResponse>(["--reaper", control, "reaper"]);
            assertEquals(answer.version, 1);
            assert(answer.status.reaped >= (seen.at(-1) ?? 0), "reaped only grows");
            seen.push(answer.status.reaped);
          }
          await storm;
          await eventually(async () => {
            const a = await spawnctlJson<ReaperResponse>(["--reaper", control, "reaper"]);
            return a.status.reaped === STORM && a.status.deleted === STORM &&
              a.status.awaitingDeletion === 0;
          }, () => daemon!.stderr.slice(-2000));
          assert(seen.length >= 1);
          for (const name of names) assert(!root.exists(name), `${name} deleted`);
        },
      );

      await t.step("reaper --json --all: scopes, each cgroup, Lua and counters", async () => {
        // One handler errs, one parks in coroutine.yield().
        for (const name of ["/a.scope/bad1", "/b.scope/park1"]) {
          root.mkdir(name);
          await root.runIn(name);
        }
        await eventually(async () => {
          const a = await spawnctlJson<ReaperResponse>(["--reaper", control, "reaper"]);
          return a.status.deleted === STORM + 2;
        }, () => daemon!.stderr.slice(-2000));
        const a = await spawnctlJson<ReaperResponse>(["--reaper", control, "reaper", "--all"]);
        assertEquals(a.scopes, [
          { path: "/a.scope", present: true },
          { path: "/b.scope", present: true },
          { path: "/missing.scope", present: false },
        ]);
        assertEquals(a.status.cgroupsWatched, 2);
        assertEquals(a.cgroups, [
          { path: "/a.scope/fresh", everPopulated: false },
          { path: "/a.scope/held", everPopulated: true },
        ]);
        assertEquals(a.status.lua.loaded, true);
        assertEquals(a.status.lua.parked, 1);
        assertEquals(a.status.lua.running, 0);
        assertEquals(a.status.lua.errors, 1);
        assertMatch(a.status.lua.lastError!, /boom in \/a\.scope\/bad1/);
        assertEquals(a.status.reaped, STORM + 2);
        assertEquals(a.status.postgresql, []);

        const text = await spawnctl(["--reaper", control, "reaper", "--all"]);
        assertEquals(text.code, 0, text.stderr);
        assertEquals(
          text.stdout.replace(/up \d+s/, "up Ns"),
          [
            "scopes: 3",
            "  /a.scope",
            "  /b.scope",
            "  /missing.scope (absent)",
            "cgroups watched: 2",
            "  /a.scope/fresh (never populated)",
            "  /a.scope/held (populated once)",
            "awaiting deletion: 0",
            "Lua: 0 running, 1 parked, 1 errors",
            `last Lua error: ${a.status.lua.lastError}`,
            "PostgreSQL: no connections",
            `since start: ${STORM + 2} reaped, ${STORM + 2} deleted, 0 rescans; up Ns`,
            "",
          ].join("\n"),
        );
      });

      await t.step("STATUS= follows", async () => {
        const want =
          `STATUS=3 scopes, 2 cgroups watched; ${STORM + 2} reaped, 0 awaiting deletion; ` +
          "Lua: 0 running, 1 parked, 1 error";
        await eventually(() => notify.texts().includes(want), () => notify.texts().join("\n"));
      });

      await t.step("journal: stats lines with SPAWN_CGROUP and the values, Lua errors", () => {
        const entries = journal.entries();
        const stats = entries.filter((e) => e.has("SPAWN_CGROUP"));
        assertEquals(stats.length, STORM + 2, "one stats entry per reaped cgroup");
        const c7 = stats.find((e) => e.get("SPAWN_CGROUP") === "/a.scope/c7")!;
        assert(c7, "c7's entry");
        assertEquals(c7.get("SYSLOG_IDENTIFIER"), "cm4all-spawn-reaper");
        assertEquals(c7.get("PRIORITY"), "6");
        for (const e of stats) {
          const message = e.get("MESSAGE")!;
          assert(message.startsWith(e.get("SPAWN_CGROUP")!.split("/").at(-1)!), message);
          const cpu = message.match(/ cpu=[\d.]+s\/([\d.]+)s\/([\d.]+)s/);
          assertEquals(e.has("SPAWN_CPU_USER_USEC"), cpu !== null, message);
          if (cpu) {
            const user = Number(e.get("SPAWN_CPU_USER_USEC")) / 1e6;
            const system = Number(e.get("SPAWN_CPU_SYSTEM_USEC")) / 1e6;
            assert(Math.abs(user - Number(cpu[1])) <= 0.05, `${message} vs ${user}`);
            assert(Math.abs(system - Number(cpu[2])) <= 0.05, `${message} vs ${system}`);
          }
          assertEquals(e.has("SPAWN_MEMORY_PEAK"), / memory=/.test(message), message);
          assertEquals(e.has("SPAWN_PIDS_PEAK"), / procs=/.test(message), message);
        }
        const lua = entries.filter((e) => e.has("SPAWN_LUA_ERROR"));
        assertEquals(lua.length, 1);
        assertEquals(lua[0].get("PRIORITY"), "3");
        assertEquals(lua[0].get("SPAWN_LUA_ERROR"), lua[0].get("MESSAGE"));
        assert(!/ cpu=|boom/.test(daemon!.stderr), "stderr has neither: " + daemon!.stderr);
      });

      await t.step("metrics: counters and gauges parsed back", async () => {
        const out = await spawnctl(["--reaper", control, "--accessory", `${dir}/none`, "metrics"]);
        assertEquals(out.code, 0, out.stderr);
        const m = parseOpenMetrics(out.stdout);
        assertEquals(m.get("cm4all_spawn_accessory_up"), 0);
        assertEquals(m.get("cm4all_spawn_reaper_up"), 1);
        assertEquals(m.get("cm4all_spawn_reaper_scopes"), 3);
        assertEquals(m.get("cm4all_spawn_reaper_cgroups_watched"), 2);
        assertEquals(m.get("cm4all_spawn_reaper_reaped_total"), STORM + 2);
        assertEquals(m.get("cm4all_spawn_reaper_deleted_total"), STORM + 2);
        assertEquals(m.get("cm4all_spawn_reaper_lua_errors_total"), 1);
        assertEquals(m.get("cm4all_spawn_reaper_lua_parked"), 1);
        assertEquals(m.get('cm4all_spawn_reaper_postgresql_connections{state="connected"}'), 0);

        const file = `${dir}/spawn.prom`;
        const written = await spawnctl(["--reaper", control, "metrics", "--output", file]);
        assertEquals(written.code, 0, written.stderr);
        assertEquals(
          parseOpenMetrics(Deno.readTextFileSync(file)).get("cm4all_spawn_reaper_up"),
          1,
        );
      });
    } finally {
      try {
        sleeper.kill("SIGKILL");
      } catch {
        // gone
      }
      await sleeper.status;
      await daemon?.stop();
      notify.close();
      journal.close();
      await root.cleanup();
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

const PG_SCRIPT = (conninfo: string) => `
db = pg:new(${JSON.stringify(conninfo)})
function cgroup_released(cgroup)
  assert(db:execute("INSERT INTO released (path) VALUES ($1)", {cgroup.path}))
end
`;

Deno.test("reaper: spawnctl and STATUS= while PostgreSQL is down", opts, async () => {
  const root = new TestCgroupRoot();
  const dir = Deno.makeTempDirSync({ prefix: "ctl-reaper-pg-" });
  const notify = new DatagramSink(`${dir}/notify`);
  const control = `${dir}/control`;
  const pg = await PgTestServer.create();
  let daemon: ReaperProcess | null = null;
  const reaper = () => spawnctlJson<ReaperResponse>(["--reaper", control, "reaper"]);
  try {
    await pg.psql("CREATE TABLE released (path text NOT NULL)");
    Deno.writeTextFileSync(`${dir}/reaper.lua`, PG_SCRIPT(pg.conninfo()));
    root.mkdir("/s.scope");
    daemon = new ReaperProcess(
      ["--cgroup-root", root.path, "--scope", "/s.scope", "--lua", `${dir}/reaper.lua`],
      // No --control: it is "control" in $RUNTIME_DIRECTORY, as under systemd.
      ["env", `NOTIFY_SOCKET=${notify.path}`, `RUNTIME_DIRECTORY=${dir}`],
    );
    await eventually(() => notify.texts().includes("READY=1"), () => daemon!.stderr);
  } catch (e) {
    await daemon?.stop();
    throw e;
  }
  try {
    root.mkdir("/s.scope/one");
    await root.runIn("/s.scope/one");
    await eventually(
      async () => Number((await pg.psql("SELECT count(*) FROM released")).trim()) === 1,
      () => daemon!.stderr,
    );
    await eventually(
      async () => (await reaper()).status.postgresql[0]?.state === "connected",
      () => daemon!.stderr,
    );
    await eventually(
      () => notify.texts().some((t) => t.endsWith("; PostgreSQL: connected")),
      () => notify.texts().join("\n"),
    );

    await pg.stop();
    for (const name of ["two", "three"]) {
      root.mkdir(`/s.scope/${name}`);
      await root.runIn(`/s.scope/${name}`);
    }
    await eventually(async () => {
      const pgs = (await reaper()).status.postgresql;
      return pgs.length === 1 && pgs[0].state === "unreachable" && pgs[0].queriesWaiting >= 1;
    }, () => daemon!.stderr);
    await eventually(
      () =>
        notify.texts().some((t) =>
          /; PostgreSQL: unreachable for \d+ s, [12] quer(y|ies) waiting$/.test(t)
        ),
      () => notify.texts().join("\n"),
    );
    const text = await spawnctl(["--reaper", control, "reaper"]);
    assertMatch(text.stdout, /^ {2}.+: unreachable for \d+s, [12] quer(y|ies) waiting/m);

    await pg.start();
    await eventually(
      async () => Number((await pg.psql("SELECT count(*) FROM released")).trim()) === 3,
      () => daemon!.stderr,
      60_000,
    );
    await eventually(
      async () => (await reaper()).status.postgresql[0]?.state === "connected",
      () => daemon!.stderr,
    );
  } finally {
    await daemon?.stop();
    notify.close();
    await root.cleanup();
    await pg.destroy();
    Deno.removeSync(dir, { recursive: true });
  }
});
