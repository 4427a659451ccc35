// PgConnection from TypeScript against a real server: reconnects, waiting
// through a restart, lost queries, deadlines, re-LISTEN, authentication.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { PgConnection, type QueryOutcome } from "../../reaper/pg/connection.ts";
import { resolveConninfo } from "../../reaper/pg/conninfo.ts";
import { type PgTestServer, withPgServer } from "./pg_server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

function connect(
  pg: PgTestServer,
  extra = "",
  options: Partial<ConstructorParameters<typeof PgConnection>[0]> = {},
) {
  return new PgConnection({
    params: resolveConninfo(pg.conninfo(extra), {}, "root"),
    retryInitialMs: 50,
    retryMaxMs: 500,
    ...options,
  });
}

function value(o: QueryOutcome): string | null {
  if (o.kind !== "result") throw new Error(`expected a result, got ${JSON.stringify(o)}`);
  const v = o.result.rows[0]?.[0];
  return v === null || v === undefined ? null : dec.decode(v);
}

const q = (c: PgConnection, sql: string, params?: string[]) =>
  c.execute(enc.encode(sql), params ? () => params.map((p) => enc.encode(p)) : null).outcome;

Deno.test("lazy connect, one query at a time in FIFO order", opts, async () => {
  await withPgServer(async (pg) => {
    const c = connect(pg);
    try {
      assertEquals(c.connected, false);
      await q(c, "CREATE TABLE log (n int, at timestamptz default clock_timestamp())");
      const all = [];
      for (let i = 0; i < 50; i++) {
        all.push(q(c, "INSERT INTO log (n) VALUES ($1) RETURNING n", [String(i)]));
      }
      assertEquals((await Promise.all(all)).map(value), [...Array(50).keys()].map(String));
      const order = await q(c, "SELECT string_agg(n::text, ',' ORDER BY at) FROM log");
      assertEquals(value(order), [...Array(50).keys()].join(","));
      assertEquals(c.connected, true);
    } finally {
      c.close();
    }
  });
});

Deno.test(
  "queries issued while the server is down wait for it (restart loses nothing)",
  opts,
  async () => {
    await withPgServer(async (pg) => {
      const events: string[] = [];
      const c = connect(pg, "", { onEvent: (m) => events.push(m) });
      try {
        await q(c, "CREATE TABLE t (n int)");
        await pg.stop();
        const pending = [];
        for (let i = 0; i < 20; i++) pending.push(q(c, "INSERT INTO t VALUES ($1)", [String(i)]));
        await new Promise((r) => setTimeout(r, 1500));
        assertEquals(c.pending, 20);
        await pg.start();
        const outcomes = await Promise.all(pending);
        assertEquals(outcomes.filter((o) => o.kind !== "result"), []);
        assertEquals(value(await q(c, "SELECT count(DISTINCT n) FROM t")), "20");
        assert(events.some((e) => e.includes("connection lost")), events.join("\n"));
        assert(
          events.some((e) => e.includes("connect failed") && e.includes(pg.socketPath)),
          events.join("\n"),
        );
        assert(events.some((e) => e.startsWith("reconnected")), events.join("\n"));
      } finally {
        c.close();
      }
    });
  },
);

Deno.test(
  "a query lost mid-flight says so; the queued ones run after reconnect",
  opts,
  async () => {
    await withPgServer(async (pg) => {
      const c = connect(pg, "application_name=victim");
      try {
        await q(c, "SELECT 1");
        const slow = q(c, "SELECT pg_sleep(30)");
        const next = q(c, "SELECT 'after' AS v");
        await new Promise((r) => setTimeout(r, 300));
        await pg.psql(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'",
        );
        const lost = await slow;
        assertEquals(lost.kind, "error");
        assertMatch(
          (lost as { message: string }).message,
          /^Connection lost while the query was running: FATAL: terminating connection/,
        );
        assertMatch(
          (lost as { message: string }).message,
          new RegExp(pg.socketPath.replaceAll(".", "\\.")),
        );
        assertEquals(value(await next), "after");
      } finally {
        c.close();
      }
    });
  },
);

Deno.test("the wait gives up at the deadline, naming the socket and the reason", opts, async () => {
  await withPgServer(async (pg) => {
    await pg.stop();
    const c = connect(pg, "", { waitDeadlineMs: 400 });
    try {
      const t0 = performance.now();
      const o = await q(c, "SELECT 1");
      const took = performance.now() - t0;
      assertEquals(o.kind, "error");
      const msg = (o as { message: string }).message;
      assertMatch(
        msg,
        /connection to server on socket ".*\.s\.PGSQL\.\d+" failed: No such file or directory/,
      );
      assertMatch(msg, /gave up after waiting 0\.4 s/);
      assert(took >= 350 && took < 3000, `gave up after ${took} ms`);
    } finally {
      c.close();
    }
  });
});

Deno.test(
  "waitDeadlineMs 0: each failed attempt fails the oldest query (original)",
  opts,
  async () => {
    await withPgServer(async (pg) => {
      await pg.stop();
      const c = connect(pg, "", { waitDeadlineMs: 0, retryInitialMs: 60_000, retryMaxMs: 60_000 });
      try {
        const first = q(c, "SELECT 1");
        const second = q(c, "SELECT 2");
        const third = q(c, "SELECT 3");
        assertEquals((await first).kind, "error");
        assertEquals((await second).kind, "error"); // the immediate retry
        await pg.start();
        // The third waits for the delayed retry, unless a new query triggers an attempt.
        const fourth = q(c, "SELECT 4");
        assertEquals(value(await third), "3");
        assertEquals(value(await fourth), "4");
      } finally {
        c.close();
      }
    });
  },
);

Deno.test("LISTEN is renewed after a reconnect; callbacks coalesce", opts, async () => {
  await withPgServer(async (pg) => {
    const c = connect(pg);
    let runs = 0;
    let release!: () => void;
    try {
      c.listen(enc.encode("Evt"), () => {
        runs++;
        return runs === 1 ? new Promise<void>((r) => release = r) : Promise.resolve();
      });
      await q(c, "SELECT 1");
      await pg.psql(`NOTIFY "Evt"`);
      await waitFor(() => runs === 1);
      await pg.psql(`NOTIFY "Evt"`);
      await pg.psql(`NOTIFY "Evt"`);
      await pg.psql(`NOTIFY evt`);
      release();
      await waitFor(() => runs === 2);
      await pg.stop();
      await pg.start();
      await q(c, "SELECT 1"); // reconnects; LISTEN queued behind it
      await q(c, "SELECT 1");
      await pg.psql(`NOTIFY "Evt"`);
      await waitFor(() => runs === 3);
      // Without any query: the connection comes back by itself for the LISTEN.
      await pg.stop();
      await new Promise((r) => setTimeout(r, 700)); // a few failed attempts
      await pg.start();
      await waitForAsync(async () => {
        await pg.psql(`NOTIFY "Evt"`); // lost until the LISTEN is renewed
        await new Promise((r) => setTimeout(r, 100));
        return runs >= 4;
      });
      assert(c.connected);
    } finally {
      c.close();
    }
  });
});

Deno.test("password authentication: SCRAM-SHA-256 and MD5", opts, async () => {
  await withPgServer(async (pg) => {
    await pg.psql(
      "SET password_encryption = 'scram-sha-256'; CREATE USER scram_user PASSWORD 'pw s€cret'",
    );
    await pg.psql("SET password_encryption = 'md5'; CREATE USER md5_user PASSWORD 'md5pw'");
    for (const extra of ["user=scram_user password='pw s€cret'", "user=md5_user password=md5pw"]) {
      const c = connect(pg, extra);
      try {
        assertEquals(value(await q(c, "SELECT current_user")), extra.split(" ")[0].slice(5));
      } finally {
        c.close();
      }
    }
    const bad = connect(pg, "user=scram_user password=wrong", { waitDeadlineMs: 0 });
    const nopw = connect(pg, "user=md5_user", { waitDeadlineMs: 0 });
    try {
      const o = await q(bad, "SELECT 1");
      assertMatch(
        (o as { message: string }).message,
        /failed: FATAL: password authentication failed for user "scram_user"/,
      );
      const n = await q(nopw, "SELECT 1");
      assertMatch((n as { message: string }).message, /no password supplied/);
    } finally {
      bad.close();
      nopw.close();
    }
  });
});

Deno.test("URI form and PG* environment reach the server", opts, async () => {
  await withPgServer(async (pg) => {
    const uri = `postgresql://postgres@${
      encodeURIComponent(pg.socketDir)
    }:${pg.port}/postgres?application_name=via%20uri`;
    const c = new PgConnection({ params: resolveConninfo(uri, {}, "root") });
    const e = new PgConnection({
      params: resolveConninfo("", {
        PGHOST: pg.socketDir,
        PGPORT: String(pg.port),
        PGUSER: "postgres",
        PGAPPNAME: "via env",
      }, "root"),
    });
    try {
      assertEquals(value(await q(c, "SELECT current_setting('application_name')")), "via uri");
      assertEquals(
        value(
          await q(e, "SELECT current_setting('application_name') || ' ' || current_database()"),
        ),
        "via env postgres",
      );
    } finally {
      c.close();
      e.close();
    }
  });
});

async function waitForAsync(cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("TCP with sslmode disable / prefer / require / verify-full", opts, async () => {
  await withPgServer(async (pg) => {
    const base = `host=127.0.0.1 port=${pg.port} user=postgres dbname=postgres`;
    const ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (const [mode, expected] of [["disable", "f"], ["prefer", "t"], ["require", "t"]]) {
      const c = new PgConnection({
        params: resolveConninfo(`${base} sslmode=${mode}`, {}, "root"),
      });
      try {
        assertEquals(value(await q(c, ssl)), expected, mode);
      } finally {
        c.close();
      }
    }
    // verify-full without a root certificate file: libpq's refusal.
    const v = new PgConnection({
      params: resolveConninfo(`${base} sslmode=verify-full`, { HOME: "/nonexistent" }, "root"),
      waitDeadlineMs: 0,
    });
    try {
      const o = await q(v, "SELECT 1");
      assertEquals(o.kind, "error");
      assertMatch(
        (o as { message: string }).message,
        /connection to server at "127\.0\.0\.1", port \d+ failed: root certificate file "\/nonexistent\/\.postgresql\/root\.crt" does not exist/,
      );
    } finally {
      v.close();
    }
    // Trusted through sslrootcert; the name checked is host, the address hostaddr.
    const crt = `${pg.dataDir}/server.crt`;
    for (const [host, ok] of [["localhost", true], ["otherhost", false]] as const) {
      const t = new PgConnection({
        params: resolveConninfo(
          `host=${host} hostaddr=127.0.0.1 port=${pg.port} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${crt}`,
          {},
          "root",
        ),
        waitDeadlineMs: 0,
      });
      try {
        const o = await q(t, ssl);
        if (ok) assertEquals(value(o), "t");
        else {
          assertMatch(
            (o as { message: string }).message,
            /failed: server certificate for "localhost" does not match host name "otherhost"/,
          );
        }
      } finally {
        t.close();
      }
    }
  }, { tcp: true, ssl: true });
});
