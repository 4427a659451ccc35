// Rows inserted per second from cgroup_released through the Lua runtime and
// the pg client, and the daemon-side CPU per call. Starts a private
// PostgreSQL server (tests/pg/pg_server.ts; needs root for runuser).
//
//   deno run -A bench/pg_insert.ts [--rows N]
//
// Uses the reaper's real Lua hook (reaper/lua/lua_hook.ts) when it loads,
// else a handler coroutine from the pg test harness (same runtime and glue).
import { cpuUsage } from "node:process";
import { PgTestServer } from "../tests/pg/pg_server.ts";
import { createPgLua } from "../tests/pg/lua_harness.ts";
import type { ReaperHook, ReleasedCgroup } from "../reaper/hook.ts";
import { lauxlib, lua as lua_, to_luastring } from "../reaper/lua/fengari.ts";
import { emptyStats } from "../reaper/cgroup/stats.ts";

const rowsArg = Deno.args.indexOf("--rows");
const N = rowsArg >= 0 ? Number(Deno.args[rowsArg + 1]) : 5000;

const HANDLER = `
  assert(db:execute(
    "INSERT INTO released (path, cpu_total, cpu_user, cpu_system) VALUES ($1, $2, $3, $4)",
    {cgroup.path, cgroup.cpu_total, cgroup.cpu_user, cgroup.cpu_system}))
`;

type Release = (i: number) => Promise<boolean>;

async function viaHook(
  conninfo: string,
  dir: string,
): Promise<{ release: Release; close: () => Promise<void> } | null> {
  try {
    const { loadLuaHook } = await import("../reaper/lua/lua_hook.ts");
    const script = `${dir}/reaper.lua`;
    await Deno.writeTextFile(
      script,
      `db = pg:new(${
        JSON.stringify(conninfo)
      })\nfunction cgroup_released(cgroup)\n${HANDLER}\nend\n`,
    );
    const hook: ReaperHook = await loadLuaHook({ scriptPath: script, cgroupRoot: dir });
    const release: Release = (i) => {
      const now = Date.now() / 1000;
      const cgroup: ReleasedCgroup = {
        path: `/system.slice/system-cm4all.slice/bp-spawn.scope/bench-${i}`,
        dirFd: null,
        btime: now - 1.5,
        takenAt: now,
        stats: {
          ...emptyStats(),
          cpuTotal: 0.012345 + i / 1e6,
          cpuUser: 0.01,
          cpuSystem: 0.002345,
        },
      };
      return hook.cgroupReleased(cgroup);
    };
    // One warm-up call proves the hook really works.
    if (!(await release(-1))) return null;
    return { release, close: () => hook.close() };
  } catch {
    return null;
  }
}

function viaHarness(conninfo: string): { release: Release; close: () => Promise<void> } {
  const lua = createPgLua();
  lua.main(`db = pg:new(${JSON.stringify(conninfo)})
    function cgroup_released(cgroup)\n${HANDLER}\nend`);
  const release: Release = (i) =>
    lua.spawnCall("cgroup_released", (T) => {
      // A plain table stands in for the cgroup userdata.
      lauxlib.luaL_loadstring(
        T,
        to_luastring(`return {path = "/bench-${i}",
        cpu_total = ${0.012345 + i / 1e6}, cpu_user = 0.01, cpu_system = 0.002345}`),
      );
      lua_.lua_call(T, 0, 1);
      return 1;
    });
  return { release, close: () => lua.close() };
}

const pg = await PgTestServer.create();
const dir = await Deno.makeTempDir({ prefix: "spawn-pgbench-" });
try {
  await pg.psql(
    "CREATE TABLE released (path text NOT NULL, cpu_total float8, cpu_user float8, cpu_system float8)",
  );
  const hooked = await viaHook(pg.conninfo(), dir);
  const runner = hooked ?? viaHarness(pg.conninfo());
  const via = hooked ? "reaper Lua hook (cgroupReleased)" : "pg test harness (handler coroutines)";

  const measure = async (label: string, run: () => Promise<void>) => {
    const c0 = cpuUsage();
    const t0 = performance.now();
    await run();
    const ms = performance.now() - t0;
    const c = cpuUsage(c0);
    return {
      label,
      rows: N,
      seconds: +(ms / 1000).toFixed(3),
      rowsPerSecond: Math.round(N / (ms / 1000)),
      cpuMicrosPerCall: Math.round((c.user + c.system) / N),
    };
  };

  // Warm up the JIT and the connection.
  await Promise.all(Array.from({ length: 200 }, (_, i) => runner.release(1e6 + i)));
  await pg.psql("TRUNCATE released");

  const burst = await measure("burst (all handlers at once)", async () => {
    const oks = await Promise.all(Array.from({ length: N }, (_, i) => runner.release(i)));
    if (!oks.every(Boolean)) throw new Error("a handler failed");
  });
  const sequential = await measure("sequential (one handler at a time)", async () => {
    for (let i = 0; i < N; i++) {
      if (!(await runner.release(N + i))) throw new Error("a handler failed");
    }
  });
  const count = Number((await pg.psql("SELECT count(*) FROM released")).trim());
  if (count !== 2 * N) throw new Error(`expected ${2 * N} rows, found ${count}`);
  await runner.close();

  const results = { via, results: [burst, sequential] };
  console.log(JSON.stringify(results));
  console.log(`\nvia ${via}`);
  console.log("mode                                 rows   rows/s  CPU µs/call");
  for (const r of results.results) {
    console.log(
      `${r.label.padEnd(36)} ${String(r.rows).padStart(5)} ${String(r.rowsPerSecond).padStart(8)} ${
        String(r.cpuMicrosPerCall).padStart(12)
      }`,
    );
  }
} finally {
  await pg.destroy();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
