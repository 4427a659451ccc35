import { assertEquals, assertThrows } from "../assert.ts";
import {
  ConninfoError,
  describeTarget,
  parseKeyValue,
  parseUri,
  resolveConninfo,
} from "../../reaper/pg/conninfo.ts";
import { passwdNameForUid } from "../../reaper/pg/os_user.ts";

const kv = (s: string) => Object.fromEntries(parseKeyValue(s));
const uri = (s: string) => Object.fromEntries(parseUri(s));

Deno.test("key=value: plain, spaces around =, quotes and backslash escapes", () => {
  assertEquals(kv("dbname=foo user = bar  port= 5433"), {
    dbname: "foo",
    user: "bar",
    port: "5433",
  });
  assertEquals(kv(String.raw`password='it\'s' application_name='a b\'c\\d'`), {
    password: "it's",
    application_name: String.raw`a b'c\d`,
  });
  assertEquals(kv(String.raw`password=a\ b options='-c search_path=x'`), {
    password: "a b",
    options: "-c search_path=x",
  });
  assertEquals(kv("dbname=''"), { dbname: "" });
  assertEquals(kv("  "), {});
  assertEquals(kv("dbname=a dbname=b"), { dbname: "b" });
});

Deno.test("key=value: errors name the problem", () => {
  assertThrows(() => kv("dbname"), 'missing "=" after "dbname"');
  assertThrows(() => kv("dbname='foo"), "unterminated quoted string");
  assertThrows(() => kv("bogus=1"), 'invalid connection option "bogus"');
});

Deno.test("URI: user, password, hosts, ports, dbname, query, percent-decoding", () => {
  assertEquals(uri("postgresql://"), {});
  assertEquals(
    uri("postgres://u%40x:p%3Aw@db.example:5433/my%20db?sslmode=require&application_name=r"),
    {
      user: "u@x",
      password: "p:w",
      host: "db.example",
      port: "5433",
      dbname: "my db",
      sslmode: "require",
      application_name: "r",
    },
  );
  assertEquals(uri("postgresql://%2Fvar%2Frun%2Fpostgresql/foo"), {
    host: "/var/run/postgresql",
    dbname: "foo",
  });
  assertEquals(uri("postgresql:///foo?host=/tmp/sock&port=5444"), {
    dbname: "foo",
    host: "/tmp/sock",
    port: "5444",
  });
  assertEquals(uri("postgresql://[::1]:5432,h2/x"), { host: "::1,h2", port: "5432,", dbname: "x" });
  assertEquals(uri("postgresql://h?ssl=true"), { host: "h", sslmode: "require" });
  assertThrows(() => uri("postgresql://h?bogus=1"), 'invalid URI query parameter: "bogus"');
  assertThrows(() => uri("postgresql://h?novalue"), 'separator "="');
  assertThrows(() => uri("postgresql://h/%zz"), "percent-encoded");
});

Deno.test("resolve: libpq defaults (socket dir, port, user = OS user, dbname = user)", () => {
  const p = resolveConninfo("", {}, "alice");
  assertEquals(p.targets, [{
    kind: "unix",
    path: "/var/run/postgresql/.s.PGSQL.5432",
    port: 5432,
    passHost: "localhost",
  }]);
  assertEquals([p.user, p.dbname, p.password, p.sslmode], ["alice", "alice", null, "prefer"]);
  assertEquals([p.applicationName, p.connectTimeout, p.options], [null, null, null]);
});

Deno.test("resolve: PG* environment variables fill what the string leaves out", () => {
  const env = {
    PGHOST: "/run/pg",
    PGPORT: "6000",
    PGDATABASE: "envdb",
    PGUSER: "envuser",
    PGPASSWORD: "envpw",
    PGAPPNAME: "envapp",
    PGSSLMODE: "disable",
    PGCONNECT_TIMEOUT: "7",
  };
  const p = resolveConninfo("dbname=given", env, "alice");
  assertEquals(p.targets, [{
    kind: "unix",
    path: "/run/pg/.s.PGSQL.6000",
    port: 6000,
    passHost: "/run/pg",
  }]);
  assertEquals(
    [p.dbname, p.user, p.password, p.applicationName, p.sslmode, p.connectTimeout],
    ["given", "envuser", "envpw", "envapp", "disable", 7],
  );
  // dbname defaults to the effective user, not the OS user.
  assertEquals(resolveConninfo("user=bob", {}, "alice").dbname, "bob");
});

Deno.test("resolve: TCP hosts, multiple hosts and ports, trailing slash on a socket dir", () => {
  const p = resolveConninfo("host=db1,/tmp/x/ port=5433,5434", {}, "u");
  assertEquals(p.targets, [
    { kind: "tcp", hostname: "db1", port: 5433, passHost: "db1" },
    { kind: "unix", path: "/tmp/x/.s.PGSQL.5434", port: 5434, passHost: "/tmp/x/" },
  ]);
  const q = resolveConninfo("postgresql://h1:1,h2/db", {}, "u");
  assertEquals(q.targets, [
    { kind: "tcp", hostname: "h1", port: 1, passHost: "h1" },
    { kind: "tcp", hostname: "h2", port: 5432, passHost: "h2" },
  ]);
  const a = resolveConninfo("host=name hostaddr=127.0.0.1", {}, "u");
  assertEquals(a.targets, [{
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 5432,
    serverName: "name",
    passHost: "name",
  }]);
  assertEquals(describeTarget(p.targets[0]), 'server at "db1", port 5433');
  assertEquals(describeTarget(p.targets[1]), 'server on socket "/tmp/x/.s.PGSQL.5434"');
});

Deno.test("resolve: invalid values raise ConninfoError naming the value", () => {
  assertThrows(() => resolveConninfo("port=abc", {}, "u"), 'invalid port number: "abc"');
  assertThrows(() => resolveConninfo("port=70000", {}, "u"), "invalid port number");
  assertThrows(() => resolveConninfo("sslmode=maybe", {}, "u"), 'invalid sslmode value: "maybe"');
  assertThrows(() => resolveConninfo("connect_timeout=x", {}, "u"), "connect_timeout");
  assertThrows(() => resolveConninfo("host=a,b port=1,2,3", {}, "u"), "could not match");
  const e = assertThrows(() => resolveConninfo("x=1", {}, "u"));
  assertEquals(e instanceof ConninfoError, true);
  // libpq: connect_timeout 1 counts as 2, 0 as forever.
  assertEquals(resolveConninfo("connect_timeout=1", {}, "u").connectTimeout, 2);
  assertEquals(resolveConninfo("connect_timeout=0", {}, "u").connectTimeout, null);
});

Deno.test("OS user: name from the passwd line with the uid", () => {
  const passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
  assertEquals(passwdNameForUid(passwd, 1000), "alice");
  assertEquals(passwdNameForUid(passwd, 0), "root");
  assertEquals(passwdNameForUid(passwd, 5), null);
});
