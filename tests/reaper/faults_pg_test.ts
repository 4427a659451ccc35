// Fault test as root: PostgreSQL killed in the middle of a handler's query
// (SIGKILL of the backend serving the reaper, then of the postmaster). The
// handler gets nil + "connection lost", the error is logged, later cgroups
// are still reaped and their rows arrive once the server is back.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { PgTestServer } from "../pg/pg_server.ts";
import { CANNOT_RUN, sleep, subdirectories, TestCgroupRoot, waitFor } from "./cgroup_fixture.ts";
import { ReaperProcess as Reaper } from "./reaper_process.ts";

const SCRIPT = (conninfo: string) => `
db = pg:new(${JSON.stringify(conninfo)})
function cgroup_released(c)
  if c.path:match("/slow[^/]*$") then
    local r, err = db:execute("SELECT pg_sleep(2)")
    print("slow " .. c.path .. " -> " .. tostring(r) .. ", " .. tostring(err))
    if not r then error("slow query failed: " .. tostring(err)) end
    return
  end
  assert(db:execute("INSERT INTO released (path) VALUES ($1)", {c.path}))
end
`;

async function pgRows(pg: PgTestServer): Promise<string[]> {
  const text = await pg.psql("SELECT path FROM released ORDER BY path");
  return text.split("\n").filter((l) => l !== "");
}

/** The pid of a backend (not ours) whose query matches the LIKE pattern. */
async function backendRunning(pg: PgTestServer, pattern: string): Promise<number> {
  const end = Date.now() + 10_000;
  for (;;) {
    const out = (await pg.psql(
      `SELECT pid FROM pg_stat_activity WHERE query LIKE '${pattern}' AND pid <> pg_backend_pid()`,
    )).trim();
    if (out !== "") return Number(out.split("\n")[0]);
    if (Date.now() > end) throw new Error(`no backend running ${pattern}`);
    await sleep(50);
  }
}

async function waitRows(pg: PgTestServer, n: number, what: string, reaper: Reaper): Promise<void> {
  const end = Date.now() + 60_000;
  let found: string[] | string = "none read yet";
  for (;;) {
    try {
      found = await pgRows(pg);
      if (found.length >= n) return;
    } catch (e) {
      // server still in recovery
      found = `unreadable: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (Date.now() > end) {
      throw new Error(
        `${what}: rows never reached ${n}; found ${JSON.stringify(found)}\n${reaper.stderr}`,
      );
    }
    await sleep(200);
  }
}

Deno.test({
  name:
    "PostgreSQL killed mid-query (backend, then postmaster): nil + connection lost, logged, later rows arrive",
  ignore: CANNOT_RUN,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cg = new TestCgroupRoot();
    const pg = await PgTestServer.create();
    const dir = await Deno.makeTempDir({ prefix: "faults-pg-" });
    let reaper: Reaper | null = null;
    try {
      await pg.psql("CREATE TABLE released (path text NOT NULL)");
      await Deno.writeTextFile(`${dir}/reaper.lua`, SCRIPT(pg.conninfo()));
      cg.mkdir("/s");
      reaper = new Reaper([
        "--cgroup-root",
        cg.path,
        "--scope",
        "/s",
        "--lua",
        `${dir}/reaper.lua`,
      ]);
      const r = reaper;
      await waitFor(() => /watching .*cgroups found/.test(r.stderr), `ready:\n${r.stderr}`, 20_000);
      const release = async (name: string) => {
        cg.mkdir(`/s/${name}`);
        await cg.runIn(`/s/${name}`);
      };

      await release("a0");
      await waitRows(pg, 1, "before the faults", r);

      // 1. SIGKILL of the backend while the handler's pg_sleep(2) runs
      await release("slow1");
      Deno.kill(await backendRunning(pg, "SELECT pg_sleep%"), "SIGKILL");
      await waitFor(
        () => r.stdout.includes("slow /s/slow1 ->"),
        `slow1 result:\n${r.stderr}`,
        20_000,
      );
      for (let i = 0; i < 5; i++) await release(`b${i}`); // during the crash recovery
      await waitRows(pg, 6, "after the backend kill", r);

      // 2. SIGKILL of the postmaster while pg_sleep(2) runs; restart 1 s later
      await release("slow2");
      await backendRunning(pg, "SELECT pg_sleep%");
      const postmaster = Number(
        (await Deno.readTextFile(`${pg.dataDir}/postmaster.pid`)).split("\n")[0],
      );
      Deno.kill(postmaster, "SIGKILL");
      await waitFor(
        () => r.stdout.includes("slow /s/slow2 ->"),
        `slow2 result:\n${r.stderr}`,
        20_000,
      );
      for (let i = 0; i < 5; i++) await release(`c${i}`); // while the server is down
      await sleep(1000);
      // Orphaned backends exit on postmaster death; start() waits for the
      // old postmaster to be gone and takes its stale lock files.
      await pg.start();
      await waitRows(pg, 11, "after the postmaster restart", r);

      await waitFor(() => subdirectories(cg.abs("/s")).length === 0, "every cgroup reaped");
      assertEquals(await pgRows(pg), [
        "/s/a0",
        ...[0, 1, 2, 3, 4].map((i) => `/s/b${i}`),
        ...[0, 1, 2, 3, 4].map((i) => `/s/c${i}`),
      ]);
      for (const n of [1, 2]) {
        assertMatch(r.stdout, new RegExp(`^slow /s/slow${n} -> nil, .*[Cc]onnection lost`, "m"));
        assertMatch(
          r.stderr,
          new RegExp(
            `^Lua error in cgroup_released\\('/s/slow${n}'\\): .*slow query failed: .*[Cc]onnection lost`,
            "m",
          ),
        );
      }
      // one Lua error line per lost query, and the daemon says what happened to pg
      assertEquals(r.stderr.split("\n").filter((l) => /^Lua error/.test(l)).length, 2, r.stderr);
      assertMatch(r.stderr, /^pg: PostgreSQL connection lost/m);
      assertMatch(r.stderr, /^pg: reconnected/m);
      assert(!r.stdout.includes("slow /s/slow1 -> table"), "no stale result");
    } finally {
      await reaper?.stop();
      await cg.cleanup();
      await pg.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
