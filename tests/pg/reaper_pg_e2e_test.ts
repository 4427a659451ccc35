// End to end as root: the reaper daemon (reaper/main.ts) with a Lua script
// that inserts one row per released cgroup into a private PostgreSQL server.
// 200 cgroups -> 200 rows with the right paths and CPU values; then 200 more
// while the server is stopped for 5 s in the middle: still no row lost or
// duplicated.
import { assert, assertEquals } from "../assert.ts";
import { PgTestServer } from "./pg_server.ts";
import { CANNOT_RUN } from "../reaper/cgroup_fixture.ts";
import { ReaperProcess } from "../reaper/reaper_process.ts";

const CGROUP2 = "/sys/fs/cgroup/unified";
const opts = {
  ignore: CANNOT_RUN,
  sanitizeOps: false,
  sanitizeResources: false,
};

const SCRIPT = (conninfo: string) => `
db = pg:new(${JSON.stringify(conninfo)})
function cgroup_released(cgroup)
  assert(db:execute(
    "INSERT INTO released (path, cpu_total, cpu_user, cpu_system) VALUES ($1, $2, $3, $4)",
    {cgroup.path, cgroup.cpu_total, cgroup.cpu_user, cgroup.cpu_system}))
end
`;

async function waitUntil(
  cond: () => Promise<boolean>,
  ms: number,
  message: () => string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(message());
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a short process inside the cgroup; returns cpu.stat usage right after it exits. */
async function runIn(dir: string): Promise<Map<string, number> | null> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'echo $$ > "$1/cgroup.procs" && i=0 && while [ $i -lt 2000 ]; do i=$((i+1)); done',
      "sh",
      dir,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`process in ${dir} failed`);
  try {
    // Usually read before the reaper's 50 ms deletion timer fires.
    const text = await Deno.readTextFile(`${dir}/cpu.stat`);
    return new Map(
      text.trim().split("\n").map((l) => {
        const [k, v] = l.split(" ");
        return [k, Number(v)] as [string, number];
      }),
    );
  } catch {
    return null;
  }
}

async function removeTree(dir: string): Promise<void> {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory);
  } catch {
    return;
  }
  for (const e of entries) await removeTree(`${dir}/${e.name}`);
  try {
    Deno.removeSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

interface Row {
  path: string;
  cpu_total: number | null;
  cpu_user: number | null;
  cpu_system: number | null;
}

async function rows(pg: PgTestServer, prefix: string): Promise<Row[]> {
  const text = await pg.psql(
    `SELECT json_agg(r) FROM released r WHERE path LIKE '${prefix}%'`,
  );
  return JSON.parse(text.trim() || "null") ?? [];
}

async function countRows(pg: PgTestServer): Promise<number> {
  return Number((await pg.psql("SELECT count(*) FROM released")).trim());
}

/** Creates n cgroups named <prefix><i>, runs a process in each (parallel 8). */
async function releaseCgroups(
  scopeDir: string,
  prefix: string,
  n: number,
  expected: Map<string, Map<string, number> | null>,
  scopePath: string,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const name = `${prefix}${next++}`;
      const dir = `${scopeDir}/${name}`;
      Deno.mkdirSync(dir);
      expected.set(`${scopePath}/${name}`, await runIn(dir));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

function checkRows(got: Row[], expected: Map<string, Map<string, number> | null>): void {
  const paths = got.map((r) => r.path);
  assertEquals(new Set(paths).size, paths.length, "no duplicates");
  assertEquals([...paths].sort(), [...expected.keys()].sort(), "one row per cgroup");
  let compared = 0;
  let exact = 0;
  for (const row of got) {
    assert(row.cpu_total !== null && row.cpu_total > 0, `${row.path}: cpu_total ${row.cpu_total}`);
    const stat = expected.get(row.path);
    if (stat === null || stat === undefined) continue;
    compared++;
    // The reaper reads cpu.stat when the cgroup reports "populated 0", which
    // happens inside the last task's exit, so a little CPU may still be
    // charged afterwards: the row may trail the final value slightly.
    const final = stat.get("usage_usec")! / 1e6;
    assert(row.cpu_total <= final, `${row.path}: cpu_total ${row.cpu_total} > final ${final}`);
    assert(final - row.cpu_total < 0.02, `${row.path}: cpu_total ${row.cpu_total}, final ${final}`);
    if (row.cpu_total === final) exact++;
    const sum = (row.cpu_user ?? NaN) + (row.cpu_system ?? NaN);
    assert(
      Math.abs(sum - row.cpu_total) < 0.002,
      `${row.path}: user+system ${sum} vs ${row.cpu_total}`,
    );
    // Six decimals: the value went through Lua and the query as an exact double.
    assertEquals(Math.round(row.cpu_total * 1e6) / 1e6, row.cpu_total);
  }
  // Most cgroups are read by the test before the reaper deletes them.
  assert(compared >= got.length / 2, `only ${compared} of ${got.length} CPU values compared`);
  assert(exact > 0, "no CPU value matched the final cpu.stat exactly");
}

Deno.test(
  "reaper + Lua + pg: one row per released cgroup, across a server restart",
  opts,
  async () => {
    const testRoot = `spawn-pgtest-${crypto.randomUUID().slice(0, 8)}`;
    const scopePath = `/${testRoot}/scope`;
    const scopeDir = `${CGROUP2}${scopePath}`;
    const pg = await PgTestServer.create();
    let daemon: ReaperProcess | null = null;
    const scriptDir = await Deno.makeTempDir({ prefix: "spawn-pgtest-lua-" });
    try {
      Deno.mkdirSync(scopeDir, { recursive: true });
      await pg.psql(
        "CREATE TABLE released (path text NOT NULL, cpu_total float8, cpu_user float8, cpu_system float8)",
      );
      const script = `${scriptDir}/reaper.lua`;
      await Deno.writeTextFile(script, SCRIPT(pg.conninfo()));
      daemon = new ReaperProcess(["--cgroup-root", CGROUP2, "--scope", scopePath, "--lua", script]);
      await daemon.waitForLog(/watching /);

      // Phase 1: 200 cgroups, server up.
      const first = new Map<string, Map<string, number> | null>();
      await releaseCgroups(scopeDir, "a", 200, first, scopePath);
      await waitUntil(
        async () => (await countRows(pg)) >= 200,
        60_000,
        () => `phase 1: ${daemon?.stderr}`,
      );
      checkRows(await rows(pg, `${scopePath}/a`), first);

      // Phase 2: 100 cgroups, then the server stops for 5 s while 100 more are released.
      const second = new Map<string, Map<string, number> | null>();
      await releaseCgroups(scopeDir, "b", 100, second, scopePath);
      await waitUntil(
        async () => (await countRows(pg)) >= 300,
        60_000,
        () => `phase 2a: ${daemon?.stderr}`,
      );
      await new Promise((r) => setTimeout(r, 200)); // let the last response reach the daemon
      await pg.stop();
      const stoppedAt = Date.now();
      await releaseCgroups(scopeDir, "c", 100, second, scopePath);
      await new Promise((r) => setTimeout(r, Math.max(0, 5000 - (Date.now() - stoppedAt))));
      await pg.start();
      await waitUntil(
        async () => (await countRows(pg)) >= 400,
        60_000,
        () => `phase 2b: ${daemon?.stderr}`,
      );
      await new Promise((r) => setTimeout(r, 500)); // no late duplicates
      const all = await rows(pg, scopePath);
      assertEquals(all.length, 400);
      checkRows(all.filter((r) => !r.path.startsWith(`${scopePath}/a`)), second);
      assert(!/Lua error/.test(daemon.stderr), daemon.stderr);
    } finally {
      await daemon?.stop();
      await removeTree(`${CGROUP2}/${testRoot}`);
      await pg.destroy();
      await Deno.remove(scriptDir, { recursive: true }).catch(() => {});
    }
  },
);
