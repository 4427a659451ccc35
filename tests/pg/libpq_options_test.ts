// libpq's connection options beyond TLS, against real PostgreSQL 15 servers:
// .pgpass, service files, several hosts with target_session_attrs and
// failover, requirepeer, keepalives, startup parameters, configuration errors
// failing at once versus outages being waited out, and the status registry.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { PgConnection } from "../../reaper/pg/connection.ts";
import { resolveConninfo } from "../../reaper/pg/conninfo.ts";
import { pgConnectionStatuses } from "../../reaper/pg/connection_status.ts";
import { readTcpOptions, socketFds, tcpInodes } from "../../reaper/pg/socket_options.ts";
import { PgTestServer, withPgServer } from "./pg_server.ts";
import { errorOf, psqlOracle, queryWith, testOpts, valueOf } from "./libpq_oracle.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test(
  ".pgpass: libpq's matching, escapes, first match wins, permission refusal",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      await pg.psql(
        "SET password_encryption = 'scram-sha-256'; CREATE USER scram_user PASSWORD 'right'; " +
          String.raw`CREATE USER md5_user PASSWORD 'a:b\c'`,
      );
      const dir = await Deno.makeTempDir();
      try {
        const file = `${dir}/pgpass`;
        await Deno.writeTextFile(
          file,
          [
            "# comment",
            `otherhost:*:*:*:nope`,
            `${pg.socketDir}:${pg.port}:postgres:scram_user:right`,
            `*:*:*:scram_user:wrong`,
            String.raw`*:${pg.port}:*:md5_user:a\:b\\c`,
          ].join("\n") + "\n",
        );
        await Deno.chmod(file, 0o600);
        const base = `host=${pg.socketDir} port=${pg.port}`;
        const who = "SELECT current_user || '@' || current_database()";
        for (
          const [how, conninfo, env] of [
            ["passfile", `${base} passfile=${file}`, {}],
            ["PGPASSFILE", base, { PGPASSFILE: file }],
            ["~/.pgpass", base, { HOME: dir }],
          ] as const
        ) {
          if (how === "~/.pgpass") await Deno.rename(file, `${dir}/.pgpass`);
          const used = how === "~/.pgpass" ? `${dir}/.pgpass` : file;
          assertEquals(
            valueOf(await queryWith(`${conninfo} user=scram_user dbname=postgres`, who, env)),
            "scram_user@postgres",
            how,
          );
          assertEquals(
            valueOf(await queryWith(`${conninfo} user=md5_user dbname=postgres`, who, env)),
            "md5_user@postgres",
            how,
          );
          // Database "other" skips the first scram_user line: the wildcard line's wrong password.
          const e = errorOf(await queryWith(`${conninfo} user=scram_user dbname=other`, who, env));
          assertMatch(e, /password authentication failed for user "scram_user"/);
          assert(e.includes(`password retrieved from file "${used}"`), e);
          const o = await psqlOracle(`${conninfo} user=scram_user dbname=other`, "SELECT 1", env);
          assert(!o.ok && o.text.includes(`password retrieved from file "${used}"`), o.text);
        }
        // Readable by the group: ignored with libpq's warning.
        await Deno.chmod(`${dir}/.pgpass`, 0o640);
        const run = await queryWith(`${base} user=scram_user dbname=postgres`, who, { HOME: dir });
        assertMatch(errorOf(run), /fe_sendauth: no password supplied/);
        const warning = `password file "${dir}/.pgpass" has group or world access; ` +
          "permissions should be u=rw (0600) or less";
        assert(run.events.some((m) => m.includes(warning)), JSON.stringify(run.events));
        const o = await psqlOracle(`${base} user=scram_user dbname=postgres`, "SELECT 1", {
          HOME: dir,
        });
        assert(!o.ok && o.text.includes(warning), o.text);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }, { hba: ["local all scram_user scram-sha-256", "local all md5_user md5"] });
  },
);

Deno.test(
  "service files: PGSERVICEFILE, ~/.pg_service.conf, PGSYSCONFDIR; the string wins",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      const dir = await Deno.makeTempDir();
      try {
        const section = (name: string, app: string) =>
          `[${name}]\n# comment\nhost=${pg.socketDir}\nport=${pg.port}\nuser=postgres\ndbname=postgres\napplication_name=${app}\n`;
        await Deno.writeTextFile(`${dir}/services.conf`, section("acct", "from PGSERVICEFILE"));
        await Deno.writeTextFile(`${dir}/.pg_service.conf`, section("acct", "from home"));
        await Deno.mkdir(`${dir}/etc`);
        await Deno.writeTextFile(
          `${dir}/etc/pg_service.conf`,
          section("other", "x") + section("sys", "from sysconfdir"),
        );
        const app = "SELECT current_setting('application_name')";
        const cases: [string, Record<string, string>, string][] = [
          ["service=acct", { PGSERVICEFILE: `${dir}/services.conf` }, "from PGSERVICEFILE"],
          ["service=acct", { HOME: dir }, "from home"],
          ["", { PGSERVICE: "acct", HOME: dir }, "from home"],
          ["service=sys", { HOME: dir, PGSYSCONFDIR: `${dir}/etc` }, "from sysconfdir"],
          ["service=acct application_name=given", { HOME: dir }, "given"],
        ];
        for (const [conninfo, env, expected] of cases) {
          assertEquals(valueOf(await queryWith(conninfo, app, env)), expected, conninfo);
          const o = await psqlOracle(conninfo, app, env);
          assertEquals(o.text, expected, `psql ${conninfo}`);
        }
        const e = errorOf(
          await queryWith("service=nope", app, { HOME: dir, PGSYSCONFDIR: `${dir}/etc` }),
        );
        assertEquals(e, 'definition of service "nope" not found');
        const o = await psqlOracle("service=nope", app, { HOME: dir, PGSYSCONFDIR: `${dir}/etc` });
        assert(o.text.includes('definition of service "nope" not found'), o.text);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

Deno.test(
  "two servers, one read-only: target_session_attrs picks the right one; failover loses nothing",
  testOpts,
  async () => {
    const a = await PgTestServer.create();
    const b = await PgTestServer.create({ settings: { default_transaction_read_only: "on" } });
    try {
      const hosts = (first: PgTestServer, second: PgTestServer, extra: string) =>
        `host=${first.socketDir},${second.socketDir} port=${first.port},${second.port} user=postgres dbname=postgres ${extra}`;
      const port = "SELECT current_setting('port')";
      const pa = String(a.port);
      const pb = String(b.port);
      assertEquals(
        valueOf(await queryWith(hosts(b, a, "target_session_attrs=read-write"), port)),
        pa,
      );
      assertEquals(valueOf(await queryWith(hosts(b, a, ""), port)), pb);
      assertEquals(
        valueOf(await queryWith(hosts(a, b, "target_session_attrs=read-only"), port)),
        pb,
      );
      assertEquals(valueOf(await queryWith(hosts(b, a, "target_session_attrs=primary"), port)), pb);
      assertEquals(
        valueOf(await queryWith(hosts(a, b, "target_session_attrs=prefer-standby"), port)),
        pa,
      );
      // No hot standby here: "standby" finds none (healable: fails only without waiting).
      const s = await queryWith(hosts(a, b, "target_session_attrs=standby"), port, {}, 0);
      assertMatch(
        errorOf(s),
        /failed: server is not in hot standby mode.*failed: server is not in hot standby mode/,
      );
      for (const [attrs, expected] of [["read-write", pa], ["read-only", pb]]) {
        const o = await psqlOracle(hosts(b, a, `target_session_attrs=${attrs}`), port);
        assertEquals(o.text, expected, `psql ${attrs}`);
      }

      // Failover: the writable server goes away, the other is promoted while queries wait.
      await a.psql("CREATE TABLE t (n int)");
      await b.psql("BEGIN READ WRITE; CREATE TABLE t (n int); COMMIT");
      const c = new PgConnection({
        params: resolveConninfo(hosts(a, b, "target_session_attrs=read-write"), {}, "root"),
        retryInitialMs: 50,
        retryMaxMs: 200,
      });
      try {
        const insert = (n: number) =>
          c.execute(enc.encode(`INSERT INTO t VALUES (${n}) RETURNING current_setting('port')`))
            .outcome;
        const first = await insert(1);
        assertEquals(first.kind === "result" ? dec.decode(first.result.rows[0][0]!) : first, pa);
        await a.stop();
        const waiting = [insert(2), insert(3)]; // a down, b read-only: they wait
        await new Promise((r) => setTimeout(r, 500));
        assertEquals(c.pending, 2);
        await b.psql("ALTER SYSTEM SET default_transaction_read_only = off");
        await b.psql("SELECT pg_reload_conf()");
        for (const o of await Promise.all(waiting)) {
          assertEquals(o.kind === "result" ? dec.decode(o.result.rows[0][0]!) : o, pb);
        }
        assertEquals(
          (await b.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM t")).trim(),
          "2,3",
        );
      } finally {
        c.close();
      }
    } finally {
      await a.destroy();
      await b.destroy();
    }
  },
);

Deno.test(
  "a real hot standby: primary, standby, prefer-standby, read-only, read-write",
  testOpts,
  async () => {
    const primary = await PgTestServer.create({ hba: ["local replication all trust"] });
    let standby: PgTestServer | null = null;
    try {
      standby = await PgTestServer.createStandby(primary);
      const s = standby;
      assertEquals((await s.psql("SELECT pg_is_in_recovery()")).trim(), "t");
      const hosts = (first: PgTestServer, second: PgTestServer, attrs: string) =>
        `host=${first.socketDir},${second.socketDir} port=${first.port},${second.port} ` +
        `user=postgres dbname=postgres target_session_attrs=${attrs}`;
      const cases: [PgTestServer, PgTestServer, string, PgTestServer][] = [
        [s, primary, "primary", primary],
        [s, primary, "read-write", primary],
        [primary, s, "standby", s],
        [primary, s, "read-only", s],
        [primary, s, "prefer-standby", s],
        [primary, s, "any", primary],
      ];
      for (const [first, second, attrs, expected] of cases) {
        const conninfo = hosts(first, second, attrs);
        assertEquals(valueOf(await queryWith(conninfo, "SHOW port")), String(expected.port), attrs);
        assertEquals((await psqlOracle(conninfo, "SHOW port")).text, String(expected.port), attrs);
      }
      // prefer-standby without a standby reachable: any server will do.
      await s.stop();
      assertEquals(
        valueOf(await queryWith(hosts(primary, s, "prefer-standby"), "SHOW port")),
        String(primary.port),
      );
    } finally {
      await standby?.destroy();
      await primary.destroy();
    }
  },
);

Deno.test(
  "load_balance_hosts=random spreads connections; disable keeps the order",
  testOpts,
  async () => {
    const a = await PgTestServer.create();
    const b = await PgTestServer.create();
    try {
      const conninfo = `host=${a.socketDir},${b.socketDir} port=${a.port},${b.port} user=postgres`;
      const seen = new Set<string>();
      for (let i = 0; i < 24 && seen.size < 2; i++) {
        seen.add(valueOf(await queryWith(`${conninfo} load_balance_hosts=random`, "SHOW port"))!);
      }
      assertEquals(seen.size, 2);
      for (let i = 0; i < 4; i++) {
        assertEquals(valueOf(await queryWith(conninfo, "SHOW port")), String(a.port));
      }
    } finally {
      await a.destroy();
      await b.destroy();
    }
  },
);

Deno.test(
  "requirepeer: the server's user is checked on the Unix socket (SO_PEERCRED)",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      const base = pg.conninfo();
      assertEquals(valueOf(await queryWith(`${base} requirepeer=postgres`, "SELECT 1")), "1");
      const e = errorOf(await queryWith(`${base} requirepeer=root`, "SELECT 1"));
      const text = 'requirepeer specifies "root", but actual peer user name is "postgres"';
      assert(e.includes(`failed: ${text}`), e);
      const o = await psqlOracle(`${base} requirepeer=root`, "SELECT 1");
      assert(!o.ok && o.text.includes(text), o.text);
      const env = await queryWith(base, "SELECT 1", { PGREQUIREPEER: "nobody" });
      assertMatch(errorOf(env), /requirepeer specifies "nobody"/);
    });
  },
);

Deno.test(
  "startup parameters: application_name, fallback, options, client_encoding, PGTZ, PGDATESTYLE",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      const sql = "SELECT concat_ws('|', current_setting('application_name'), " +
        "current_setting('search_path'), current_setting('client_encoding'), " +
        "current_setting('TimeZone'), current_setting('DateStyle'), current_setting('work_mem'))";
      const given = `${pg.conninfo()} application_name=app fallback_application_name=fb ` +
        `options='-c search_path=s1 -c work_mem=5MB' client_encoding=LATIN1`;
      const env = { PGTZ: "Asia/Tokyo", PGDATESTYLE: "SQL, DMY" };
      const expected = "app|s1|LATIN1|Asia/Tokyo|SQL, DMY|5MB";
      assertEquals(valueOf(await queryWith(given, sql, env)), expected);
      assertEquals((await psqlOracle(given, sql, env)).text, expected);
      // fallback_application_name only without application_name; PG* variables.
      const viaEnv = {
        PGHOST: pg.socketDir,
        PGPORT: String(pg.port),
        PGUSER: "postgres",
        PGDATABASE: "postgres",
        PGOPTIONS: "-c search_path=s2",
        PGCLIENTENCODING: "SQL_ASCII",
      };
      assertEquals(
        valueOf(await queryWith("fallback_application_name=fb", sql, viaEnv)),
        "fb|s2|SQL_ASCII|UTC|ISO, MDY|4MB".replace("UTC", (await pg.psql("SHOW TimeZone")).trim()),
      );
      assertEquals(
        valueOf(
          await queryWith("fallback_application_name=fb", "SHOW application_name", {
            ...viaEnv,
            PGAPPNAME: "envapp",
          }),
        ),
        "envapp",
      );
    });
  },
);

Deno.test("keepalives and tcp_user_timeout reach the TCP socket", testOpts, async () => {
  await withPgServer(async (pg) => {
    const optionsOfOurSocket = (): ReturnType<typeof readTcpOptions> => {
      const table = Deno.readTextFileSync("/proc/self/net/tcp");
      const fds = socketFds();
      for (const line of table.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (
          f.length < 10 || !f[2].endsWith(`:${pg.port.toString(16).toUpperCase().padStart(4, "0")}`)
        ) continue;
        const local = parseInt(f[1].split(":")[1], 16);
        const inodes = tcpInodes([table], local, pg.port);
        for (const [fd, inode] of fds) if (inodes.has(inode)) return readTcpOptions(fd);
      }
      throw new Error("our TCP socket was not found");
    };
    const open = async (extra: string) => {
      const c = new PgConnection({
        params: resolveConninfo(
          `host=127.0.0.1 port=${pg.port} user=postgres sslmode=disable ${extra}`,
          {},
          "root",
        ),
      });
      await c.execute(enc.encode("SELECT 1")).outcome;
      return c;
    };
    const c1 = await open(
      "keepalives_idle=17 keepalives_interval=3 keepalives_count=4 tcp_user_timeout=9000",
    );
    try {
      assertEquals(optionsOfOurSocket(), {
        keepalives: true,
        idle: 17,
        interval: 3,
        count: 4,
        userTimeoutMs: 9000,
      });
    } finally {
      c1.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    const c2 = await open("keepalives=0");
    try {
      assertEquals(optionsOfOurSocket().keepalives, false);
    } finally {
      c2.close();
    }
  }, { tcp: true });
});

Deno.test("configuration errors fail at once; an outage is waited out", testOpts, async () => {
  await withPgServer(async (pg) => {
    await pg.psql("SET password_encryption = 'scram-sha-256'; CREATE USER pw_user PASSWORD 'pw'");
    // Each would hang for the 10-minute wait if it were treated as healable.
    const cases: [string, RegExp][] = [
      ["dbname=nosuchdb", /FATAL: database "nosuchdb" does not exist/],
      ["user=nosuchrole", /FATAL: role "nosuchrole" does not exist/],
      ["user=pw_user password=wrong", /FATAL: password authentication failed for user "pw_user"/],
      ["user=pw_user", /fe_sendauth: no password supplied/],
      [
        "options='-c nosuch_setting=1'",
        /FATAL: unrecognized configuration parameter "nosuch_setting"/,
      ],
    ];
    for (const [extra, pattern] of cases) {
      const base = `host=${pg.socketDir} port=${pg.port} ${
        extra.includes("user=") ? "" : "user=postgres"
      }`;
      const run = await queryWith(`${base} ${extra}`, "SELECT 1");
      assertMatch(errorOf(run), pattern, extra);
      assertEquals(run.events.length, 1, JSON.stringify(run.events)); // one attempt, logged once
      const o = await psqlOracle(`${base} ${extra}`, "SELECT 1");
      assert(!o.ok && pattern.test(o.text), `psql: ${o.text}`);
    }
    // A stopped server: the query waits and succeeds once it is back.
    await pg.stop();
    const c = new PgConnection({
      params: resolveConninfo(pg.conninfo(), {}, "root"),
      retryInitialMs: 50,
      retryMaxMs: 200,
    });
    try {
      const pending = c.execute(enc.encode("SELECT 42")).outcome;
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(c.pending, 1);
      await pg.start();
      const o = await pending;
      assertEquals(o.kind === "result" ? dec.decode(o.result.rows[0][0]!) : o, "42");
    } finally {
      c.close();
    }
  }, { hba: ["local all pw_user scram-sha-256"] });
});

Deno.test(
  "connect_timeout is per host: a silent first host times out, the second serves",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      // Accepts TCP connections (kernel backlog) but never answers.
      const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const conninfo = `host=127.0.0.1,${pg.socketDir} port=${silent.addr.port},${pg.port} ` +
          "user=postgres connect_timeout=2";
        assertEquals(valueOf(await queryWith(conninfo, "SELECT 'second'")), "second");
        const alone = await queryWith(
          `host=127.0.0.1 port=${silent.addr.port} user=postgres connect_timeout=2`,
          "SELECT 1",
          {},
          0,
        );
        assertMatch(errorOf(alone), /failed: timeout expired/);
      } finally {
        silent.close();
      }
    });
  },
);

Deno.test(
  "status registry: target without password, state, waiting queries, last error",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      const target = `host=${pg.socketDir} port=${pg.port} user=postgres`;
      const c = new PgConnection({
        params: resolveConninfo(`${target} password=secret`, {}, "root"),
        statusTarget: target,
        retryInitialMs: 50,
        retryMaxMs: 200,
      });
      const mine = () => pgConnectionStatuses().filter((s) => s.target === target);
      try {
        assertEquals(mine(), []); // not used yet
        const first = c.execute(enc.encode("SELECT 1")).outcome;
        assertEquals(mine().map((s) => [s.state, s.queriesWaiting]), [["connecting", 1]]);
        await first;
        assertEquals(mine(), [{ target, state: "connected", queriesWaiting: 0 }]);
        await pg.stop();
        const pending = c.execute(enc.encode("SELECT 2")).outcome;
        await new Promise((r) => setTimeout(r, 500));
        const down = mine()[0];
        assertEquals([down.state, down.queriesWaiting], ["unreachable", 1]);
        assert(
          typeof down.unreachableSince === "number" && down.unreachableSince <= performance.now(),
        );
        assert(down.lastError !== undefined && down.lastError.length > 0);
        await pg.start();
        await pending;
        assertEquals([mine()[0].state, mine()[0].queriesWaiting], ["connected", 0]);
      } finally {
        c.close();
      }
      assertEquals(mine(), []); // unregistered when closed
    });
  },
);

/** FATAL ErrorResponse bytes with this SQLSTATE and message. */
function errorResponse(code: string, message: string): Uint8Array {
  const body = enc.encode(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
  const out = new Uint8Array(5 + body.length);
  out[0] = 0x45; // 'E'
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

/**
 * A Unix-socket front for a real server: the first `refusals` connections get
 * this error after the startup packet, later ones are piped to the server.
 */
function startupFront(
  pg: PgTestServer,
  dir: string,
  code: string,
  message: string,
  refusals: number,
) {
  const path = `${dir}/.s.PGSQL.${pg.port}`;
  const listener = Deno.listen({ transport: "unix", path });
  let seen = 0;
  const serve = async (conn: Deno.UnixConn, refuse: boolean) => {
    try {
      if (refuse) {
        await conn.read(new Uint8Array(1024)); // the startup packet
        await conn.write(errorResponse(code, message));
        conn.close();
        return;
      }
      const upstream = await Deno.connect({ transport: "unix", path: pg.socketPath });
      conn.readable.pipeTo(upstream.writable).catch(() => {});
      upstream.readable.pipeTo(conn.writable).catch(() => {});
    } catch {
      // the client or the server went away: the client sees the connection end
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  (async () => {
    for await (const conn of listener) serve(conn, seen++ < refusals);
  })().catch(() => {});
  return { close: () => listener.close(), attempts: () => seen };
}

Deno.test(
  "a server starting up is waited out; a refused role fails at once",
  testOpts,
  async () => {
    await withPgServer(async (pg) => {
      const dir = await Deno.makeTempDir();
      try {
        const starting = startupFront(pg, dir, "57P03", "the database system is starting up", 3);
        try {
          // connect_timeout: an attempt stuck on a loaded machine is retried, not waited for.
          const run = await queryWith(
            `host=${dir} port=${pg.port} user=postgres connect_timeout=20`,
            "SELECT 'up'",
          );
          assertEquals(valueOf(run), "up");
          assert(starting.attempts() >= 4, String(starting.attempts()));
          assertMatch(run.events[0], /FATAL: the database system is starting up/);
        } finally {
          starting.close();
        }
        // A fresh directory: Deno unlinks a closed listener's path late, maybe after a new bind.
        await Deno.mkdir(`${dir}/2`);
        const refusing = startupFront(
          pg,
          `${dir}/2`,
          "28000",
          'role "x" is not permitted to log in',
          3,
        );
        try {
          const run = await queryWith(
            `host=${dir}/2 port=${pg.port} user=postgres`,
            "SELECT 'up'",
          );
          assertMatch(errorOf(run), /FATAL: role "x" is not permitted to log in/);
          assertEquals(refusing.attempts(), 1);
        } finally {
          refusing.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);
