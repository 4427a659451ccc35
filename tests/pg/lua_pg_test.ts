// The Lua API of `pg` against a real server (spec §5, tests 11-29).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { createPgLua, type PgLua } from "./lua_harness.ts";
import { type PgTestServer, withPgServer } from "./pg_server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function withLua(pg: PgTestServer | null, fn: (lua: PgLua) => Promise<void> | void) {
  const lua = createPgLua();
  try {
    if (pg !== null) lua.main(`db = pg:new(${JSON.stringify(pg.conninfo())})`);
    await fn(lua);
  } finally {
    await lua.close();
  }
}

Deno.test("pg arrays from Lua (spec 11-20)", opts, async () => {
  await withLua(null, (lua) => {
    lua.main(`
      local function eq(a, b) assert(a == b, tostring(a) .. " ~= " .. tostring(b)) end
      local function list(t) return table.concat(t, "|") .. "#" .. #t end
      eq(pg:encode_array({}), "{}")
      eq(pg:encode_array({"a", "b"}), '{"a","b"}')
      eq(pg:encode_array({""}), '{""}')
      eq(pg:encode_array({'x"y', 'a\\\\b'}), '{"x\\\\"y","a\\\\\\\\b"}')
      eq(pg:encode_array({"a,b", "{c}", " d ", "NULL"}), '{"a,b","{c}"," d ","NULL"}')
      eq(pg:encode_array({1, 2.5}), '{"1","2.5"}')
      eq(pg:encode_array({3e9, 1e15, 0.1}), '{"3000000000","1e+15","0.1"}')
      eq(pg:encode_array({"a", ["2"] = nil}), '{"a"}')
      eq(pg:encode_array({"a\\0b"}), '{"a\\0b"}')
      for _, bad in ipairs({ {true}, {{"a"}}, {a = "x"} }) do
        assert(not pcall(pg.encode_array, pg, bad))
      end
      assert(not pcall(pg.encode_array, pg, "x"))
      assert(not pcall(pg.encode_array, pg, {}, 1))
      local ok, err = pcall(pg.encode_array, pg, {a = "x"})
      assert(err:find("Key is not a number"), err)
      ok, err = pcall(pg.encode_array, pg, {[5] = "x"})
      assert(err:find("Key out of range"), err)
      ok, err = pcall(pg.encode_array, pg, {true})
      assert(err:find("Bad value"), err)
      ok, err = pcall(pg.encode_array, pg, {}, 1)
      assert(err:find("Too many parameters"), err)

      eq(list(pg:decode_array("")), "#0")
      eq(list(pg:decode_array("{}")), "#0")
      eq(list(pg:decode_array("{a,b,c}")), "a|b|c#3")
      eq(list(pg:decode_array('{"a,b","c\\\\"d","e\\\\\\\\f"}')), 'a,b|c"d|e\\\\f#3')
      eq(list(pg:decode_array('{NULL,"NULL"}')), "NULL|NULL#2")
      eq(list(pg:decode_array("{ a , b }")), " a | b #2")
      eq(list(pg:decode_array("{a,}")), "a|#2")
      eq(list(pg:decode_array("{,}")), "|#2")
      for _, bad in ipairs({"a,b", "{", "{a", '{"a', '{"a\\\\', '{"a"b}', "{a}x", "{{1,2},{3,4}}", "{} "}) do
        assert(not pcall(pg.decode_array, pg, bad), bad)
      end
      ok, err = pcall(pg.decode_array, pg, "{{1}}")
      assert(err:find("unexpected '{'"), err)
      -- round trip, binary included
      local l = {"", "x", '"', "\\\\", ",", "{", "}", " ", "\\0\\255", "NULL"}
      local back = pg:decode_array(pg:encode_array(l))
      eq(#back, #l)
      for i = 1, #l do eq(back[i], l[i]) end
    `);
  });
});

Deno.test("pg:new arguments and laziness (spec 5.1, 28)", opts, async () => {
  const lua = createPgLua({ waitDeadlineMs: 0 });
  try {
    lua.main(`
      local ok, err = pcall(pg.new, pg, "dbname=x", "s", 1)
      assert(err:find("Too many parameters"), err)
      ok, err = pcall(pg.new, "x")
      assert(err:find("bad argument #2"), err)
      -- never fails and does not connect
      db = pg:new("host=/nonexistent-dir port=1")
      assert(type(db) == "userdata")
      bad = pg:new("bogus=1")
    `);
    await lua.handler(`
      local r, err = db:execute("SELECT 1")
      assert(r == nil)
      assert(err:find('socket "/nonexistent%-dir/.s.PGSQL.1"'), err)
      assert(err:find("No such file or directory"), err)
      assert(not err:find("\\n"), "collapsed: " .. err)
      r, err = bad:execute("SELECT 1")
      assert(r == nil and err:find('invalid connection option "bogus"'), err)
    `);
  } finally {
    await lua.close();
  }
});

Deno.test("db:execute / res:fetch against a server (spec 21-27)", opts, async (t) => {
  await withPgServer(async (pg) => {
    await withLua(pg, async (lua) => {
      await t.step("argument errors raise (21)", async () => {
        await lua.handler(`
          local ok, err = pcall(db.execute, db, "SELECT 1", nil)
          assert(not ok and err:find("table expected"), err)
          ok, err = pcall(db.execute, db)
          assert(not ok and err:find("Not enough parameters"), err)
          ok, err = pcall(db.execute, db, "a", {}, 1)
          assert(not ok and err:find("Too many parameters"), err)
        `);
      });
      await t.step("parameter conversion (22, 23)", async () => {
        await lua.handler(`
          local r = assert(db:execute(
            "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text",
            {42, 2.5, 1e16, 1e-5, true, false, 1e15, -0.0}))
          local row = r:fetch({}, "n")
          local want = {"42", "2.5", "1e+16", "1e-05", "1", "0", "1000000000000000", "-0"}
          for i = 1, #want do assert(row[i] == want[i], i .. ": " .. tostring(row[i])) end
          r = assert(db:execute("SELECT $1::text IS NULL AS n, $2::text AS x", {nil, "x"}))
          row = r:fetch()
          assert(row.n == "t" and row.x == "x")
          r = assert(db:execute("SELECT $1::float8 = 0.1::float8 + 0.2::float8 AS same", {0.1 + 0.2}))
          assert(r:fetch().same == "t")
          r = assert(db:execute("SELECT $1::float8::text AS v", {0/0}))
          assert(r:fetch().v == "NaN")
          local res, err = db:execute("SELECT $1", {{}})
          assert(res == nil and err == "Unsupported query parameter type: table", err)
          res, err = db:execute("SELECT $1", {print})
          assert(res == nil and err == "Unsupported query parameter type: function", err)
        `);
      });
      await t.step("parameters are read when the query is sent, not when queued", async () => {
        const slow = lua.spawn(`assert(db:execute("SELECT pg_sleep(0.3)"))`);
        lua.main(`params = {"at call time"}`);
        const queued = lua.spawn(`sent = db:execute("SELECT $1::text AS v", params):fetch().v`);
        lua.main(`params[1] = "at send time"`);
        assertEquals([await slow, await queued], [true, true]);
        lua.main(`assert(sent == "at send time", sent)`);
      });
      await t.step("strings are binary-safe in both directions", async () => {
        // SQL_ASCII: the server stores and returns bytes unchecked.
        await pg.psql(
          "CREATE DATABASE bin ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'",
        );
        lua.main(
          `bin = pg:new(${JSON.stringify(pg.conninfo().replace("dbname=postgres", "dbname=bin"))})`,
        );
        await lua.handler(`
          local all = {}
          for b = 1, 255 do all[#all + 1] = string.char(b) end
          all = table.concat(all)
          local r = assert(bin:execute("SELECT $1::text AS v, octet_length($1::text) AS n, md5($1::text) AS h", {all}))
          local row = r:fetch()
          assert(row.n == "255", row.n)
          assert(row.v == all, "bytes came back unchanged")
          -- the same bytes in the simple protocol
          r = assert(bin:execute("SELECT '" .. all:gsub("'", "''") .. "'::text AS v"))
          assert(r:fetch().v == all)
          -- UTF-8 database: valid UTF-8 passes, invalid bytes are sent as is and rejected
          r = assert(db:execute("SELECT $1::text AS v", {"h\\195\\169llo"}))
          assert(r:fetch().v == "h\\195\\169llo")
          local res, err = db:execute("SELECT $1::text", {"\\255"})
          assert(res == nil and err:find("invalid byte sequence"), err)
        `);
      });
      await t.step("SQL errors: nil plus libpq's message (24)", async () => {
        await lua.handler(`
          local r, err = db:execute("SELEC 1")
          assert(r == nil and err:match("^ERROR:"), err)
          assert(err == 'ERROR:  syntax error at or near "SELEC"\\nLINE 1: SELEC 1\\n        ^\\n', err)
          r, err = db:execute("SELECT 1/$1::int", {0})
          assert(r == nil and err == "ERROR:  division by zero\\n", err)
          -- the connection is still usable
          assert(db:execute("SELECT 1"):fetch({}, "n")[1] == "1")
        `);
      });
      await t.step("fetch modes, NULL, exhaustion (25, 26)", async () => {
        await lua.handler(`
          local r = assert(db:execute("SELECT 1 AS id, NULL::text AS name UNION ALL SELECT 2,'x'"))
          local row = r:fetch()
          assert(row.id == "1" and row.name == nil and next(row, next(row)) == nil)
          row = r:fetch({}, "n")
          assert(row[1] == "2" and row[2] == "x" and #row == 2)
          assert(r:fetch() == nil)
          assert(select("#", r:fetch()) == 0)
          assert(r:fetch({}, "bogus") == nil)
          r = assert(db:execute("SELECT 1 AS id, NULL::text AS name"))
          local ok, err = pcall(r.fetch, r, {}, "bogus")
          assert(not ok and err:find("Bad mode"), err)
          ok, err = pcall(r.fetch, r, nil)
          assert(not ok, "fetch(nil) raises")
          r = assert(db:execute("SELECT 1 AS id, NULL::text AS name"))
          local t = {id = "old", name = "old"}
          assert(rawequal(r:fetch(t), t))
          assert(t.id == "1" and t.name == nil)
          -- non-raw assignment, duplicate names: the later column wins
          r = assert(db:execute("SELECT 1 AS a, 2 AS a"))
          local seen = {}
          local proxy = setmetatable({}, {__newindex = function(_, k, v) seen[#seen + 1] = k .. "=" .. v end})
          r:fetch(proxy)
          assert(table.concat(seen, ",") == "a=1,a=2", table.concat(seen, ","))
          -- several statements: the last result counts
          r = assert(db:execute("SELECT 1 AS first; SELECT 'last' AS second"))
          assert(r:fetch().second == "last")
          r, err = db:execute("SELECT 1; SELEC 2")
          assert(r == nil and err:match("^ERROR:"))
        `);
      });
      await t.step("commands without rows give a result whose fetch is nil (27)", async () => {
        await lua.handler(`
          assert(db:execute("CREATE TABLE t27 (id int, name text)"))
          local r = assert(db:execute("INSERT INTO t27 VALUES ($1, $2)", {1, "x"}))
          assert(type(r) == "userdata" and r:fetch() == nil)
          r = assert(db:execute(""))
          assert(r:fetch() == nil)
          r = assert(db:execute("SELECT name FROM t27 WHERE id = $1", {1}))
          assert(r:fetch().name == "x")
        `);
      });
      await t.step("execute outside a daemon coroutine raises (decision 4)", () => {
        let error = "";
        try {
          lua.main(`db:execute("SELECT 1")`);
        } catch (e) {
          error = (e as Error).message;
        }
        assertMatch(error, /db:execute must run in a handler, reload or listen coroutine/);
        lua.main(`
          local co = coroutine.create(function() return db:execute("SELECT 1") end)
          local ok, err = coroutine.resume(co)
          assert(not ok and err:find("must run in a handler"), err)
        `);
      });
    });
  });
});

Deno.test("schema: SET SCHEMA after connect, errors reported (5.1)", opts, async () => {
  await withPgServer(async (pg) => {
    await pg.psql(
      `CREATE SCHEMA "it's"; CREATE TABLE "it's".t (v text); INSERT INTO "it's".t VALUES ('in schema')`,
    );
    await withLua(null, async (lua) => {
      lua.main(`
        db = pg:new(${JSON.stringify(pg.conninfo())}, "it's")
        nope = pg:new(${JSON.stringify(pg.conninfo())}, "")
      `);
      await lua.handler(`
        local r = assert(db:execute("SELECT v FROM t"))
        assert(r:fetch().v == "in schema")
        assert(db:execute("SHOW search_path"):fetch({}, "n")[1] == [["it's"]])
        local res, err = nope:execute("SELECT v FROM t")
        assert(res == nil and err:find("does not exist"), err)
      `);
    });
  });
});

Deno.test("many handlers at once get their own results (issue req. 7)", opts, async () => {
  await withPgServer(async (pg) => {
    await withLua(pg, async (lua) => {
      lua.main(`results = {}`);
      const runs: Promise<boolean>[] = [];
      for (let i = 1; i <= 100; i++) {
        runs.push(lua.spawn(`
          local r = assert(db:execute("SELECT $1::int * 2 AS v, pg_sleep(random() / 1000)", {${i}}))
          results[${i}] = r:fetch().v
          local r2 = assert(db:execute("SELECT $1::text AS again", {${i}}))
          assert(r2:fetch().again == "${i}")
        `));
      }
      assertEquals((await Promise.all(runs)).every((ok) => ok), true, lua.errors.join("\n"));
      lua.main(`for i = 1, 100 do assert(results[i] == tostring(2 * i), i) end`);
    });
  });
});

Deno.test(
  "listen: callback coroutine may query; coalescing; duplicates (spec 29)",
  opts,
  async () => {
    await withPgServer(async (pg) => {
      await withLua(pg, async (lua) => {
        lua.main(`
        runs, args, seen = 0, -1, nil
        db:listen("Chan", function(...)
          runs = runs + 1
          args = select("#", ...)
          local r = assert(db:execute("SELECT pg_sleep(0.3), 'queried' AS v"))
          seen = r:fetch().v
        end)
        local ok, err = pcall(db.listen, db, "Chan", function() end)
        assert(not ok and err:find("Duplicate notify name"), err)
        ok, err = pcall(db.listen, db, "x")
        assert(not ok and err:find("Not enough parameters"), err)
        ok, err = pcall(db.listen, db, "x", print, 1)
        assert(not ok and err:find("Too many parameters"), err)
        ok, err = pcall(db.listen, db, "x", 5)
        assert(not ok, "fn must be a function")
        other = 0
        db:listen("chan", function() other = other + 1 end)
      `);
        // Let the LISTENs reach the server (they were queued by listen()).
        await lua.handler(`assert(db:execute("SELECT 1"))`);
        await pg.psql(`NOTIFY "Chan"`);
        await waitFor(() => luaNumber(lua, "runs") === 1);
        // Two notifications while the first run sleeps: exactly one more run.
        await pg.psql(`NOTIFY "Chan", 'a'`);
        await pg.psql(`NOTIFY "Chan", 'b'`);
        await waitFor(() => luaNumber(lua, "runs") === 2);
        await new Promise((r) => setTimeout(r, 1000));
        assertEquals(luaNumber(lua, "runs"), 2);
        assertEquals(luaNumber(lua, "args"), 0);
        assertEquals(luaNumber(lua, "other"), 0, "case-sensitive channel names");
        lua.main(`assert(seen == "queried")`);
        assertEquals(lua.errors, []);
      });
    });
  },
);

Deno.test("listen callback errors are logged (decision 3)", opts, async () => {
  await withPgServer(async (pg) => {
    await withLua(pg, async (lua) => {
      lua.main(`db:listen("c", function() error("listener boom") end)`);
      await lua.handler(`assert(db:execute("SELECT 1"))`);
      await pg.psql(`NOTIFY c`);
      await waitFor(() => lua.errors.length > 0);
      assertMatch(lua.errors[0], /listener boom/);
    });
  });
});

Deno.test("shutdown cancels waiting handlers and the running query", opts, async () => {
  await withPgServer(async (pg) => {
    const lua = createPgLua();
    lua.main(`db = pg:new(${JSON.stringify(pg.conninfo("application_name=shutdown-test"))})`);
    const slow = lua.spawn(`db:execute("SELECT pg_sleep(30)") finished = true`);
    const queued = lua.spawn(`db:execute("SELECT 1") finished = true`);
    await waitForAsync(async () =>
      (await pg.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shutdown-test' AND state = 'active'",
      )).trim() === "1"
    );
    await lua.close();
    assertEquals(await slow, false);
    assertEquals(await queued, false);
    await waitForAsync(async () =>
      (await pg.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shutdown-test'",
      )).trim() === "0"
    );
  });
});

function luaNumber(lua: PgLua, name: string): number {
  const { lua: api, to_luastring } = luaApi;
  api.lua_getglobal(lua.runtime.L, to_luastring(name));
  const v = api.lua_tonumber(lua.runtime.L, -1);
  api.lua_pop(lua.runtime.L, 1);
  return v;
}

import { lua as luaCore, to_luastring as toLua } from "../../reaper/lua/fengari.ts";
const luaApi = { lua: luaCore, to_luastring: toLua };

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForAsync(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

assert(true);

Deno.test("pg:new refuses an unsupported keyword at once, naming it (issue 11)", opts, async () => {
  const lua = createPgLua({ env: {} });
  try {
    lua.main(`
      local ok, err = pcall(pg.new, pg, "dbname=x gssencmode=require")
      assert(not ok)
      assert(err:find('pg:new: connection option "gssencmode=require" is not supported', 1, true), err)
      ok, err = pcall(pg.new, pg, "postgresql:///x?replication=database")
      assert(err:find('connection option "replication=database" is not supported', 1, true), err)
      -- harmless defaults are accepted; other bad values still give a connection (spec 5.1)
      assert(type(pg:new("gssencmode=disable replication=off")) == "userdata")
      assert(type(pg:new("sslmode=bogus")) == "userdata")
    `);
  } finally {
    await lua.close();
  }
});
