// Every libpq 16 keyword and PG* variable: implemented (parsed with libpq's
// defaults and errors) or refused with an error naming it. Pure; no server.
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  type ConninfoFiles,
  DEFAULT_ONLY_KEYWORDS,
  describeConninfo,
  parseRequireAuth,
  parseServiceFile,
  resolveConninfo,
  UnsupportedOptionError,
} from "../../reaper/pg/conninfo.ts";
import { findPassword } from "../../reaper/pg/passfile.ts";
import { verifyHostName } from "../../reaper/pg/tls_files.ts";
import { tlsServerEndPoint } from "../../reaper/pg/auth.ts";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

const noFiles: ConninfoFiles = { readText: () => null, passwdHome: () => null };
const resolve = (s: string, env: Record<string, string> = {}) =>
  resolveConninfo(s, env, "alice", noFiles);

Deno.test("unsupported keyword values are refused, naming keyword and value; defaults pass", () => {
  const refused: [string, string, string][] = [
    ["gssencmode", "require", "PGGSSENCMODE"],
    ["krbsrvname", "other", "PGKRBSRVNAME"],
    ["gsslib", "sspi", "PGGSSLIB"],
    ["gssdelegation", "1", "PGGSSDELEGATION"],
    ["replication", "database", ""],
    ["replication", "true", ""],
    ["sslcertmode", "require", "PGSSLCERTMODE"],
  ];
  for (const [key, value, envName] of refused) {
    const e = assertThrows(
      () => resolve(`${key}=${value}`),
      `connection option "${key}=${value}" is not supported`,
    );
    assert(e instanceof UnsupportedOptionError);
    if (envName !== "") {
      assertThrows(
        () => resolve("", { [envName]: value }),
        `connection option "${key}=${value}" is not supported`,
      );
    }
  }
  for (const [key, values] of Object.entries(DEFAULT_ONLY_KEYWORDS)) {
    for (const v of values) resolve(`${key}=${v}`);
  }
  assertThrows(
    () => resolve("host=@abstract"),
    'connection option "host=@abstract" is not supported',
  );
  assertThrows(
    () => resolve("postgresql:///x?gssencmode=require"),
    'connection option "gssencmode=require" is not supported',
  );
});

Deno.test("every keyword's environment variable is read; the string wins, empty means default", () => {
  const env = {
    PGHOST: "/run/pg",
    PGHOSTADDR: "",
    PGPORT: "6000",
    PGDATABASE: "db",
    PGUSER: "u",
    PGPASSWORD: "pw",
    PGPASSFILE: "/etc/pgpass",
    PGCHANNELBINDING: "require",
    PGCONNECT_TIMEOUT: "9",
    PGCLIENTENCODING: "LATIN1",
    PGOPTIONS: "-c x=1",
    PGAPPNAME: "app",
    PGSSLMODE: "verify-ca",
    PGSSLCERT: "/c.crt",
    PGSSLKEY: "/c.key",
    PGSSLROOTCERT: "/ca.crt",
    PGSSLCRL: "/crl.pem",
    PGSSLCRLDIR: "/crls",
    PGSSLSNI: "0",
    PGREQUIREPEER: "postgres",
    PGREQUIREAUTH: "scram-sha-256",
    PGSSLMINPROTOCOLVERSION: "TLSv1.3",
    PGSSLMAXPROTOCOLVERSION: "TLSv1.3",
    PGTARGETSESSIONATTRS: "read-write",
    PGLOADBALANCEHOSTS: "random",
    PGSSLCERTMODE: "disable",
    PGTZ: "UTC",
    PGDATESTYLE: "ISO",
    PGGEQO: "off",
  };
  const p = resolve("", env);
  assertEquals(p.targets, [{
    kind: "unix",
    path: "/run/pg/.s.PGSQL.6000",
    port: 6000,
    passHost: "/run/pg",
  }]);
  assertEquals([p.dbname, p.user, p.password, p.passfile], ["db", "u", "pw", "/etc/pgpass"]);
  assertEquals([p.channelBinding, p.connectTimeout, p.clientEncoding, p.options], [
    "require",
    9,
    "LATIN1",
    "-c x=1",
  ]);
  assertEquals([p.applicationName, p.sslmode, p.requirePeer, p.targetSessionAttrs, p.loadBalance], [
    "app",
    "verify-ca",
    "postgres",
    "read-write",
    true,
  ]);
  assertEquals(p.tls, {
    rootCert: "/ca.crt",
    cert: "/c.crt",
    key: "/c.key",
    password: null,
    crl: "/crl.pem",
    crlDir: "/crls",
    sni: false,
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    sendCert: false,
  });
  assertEquals(p.requireAuth?.text, "scram-sha-256");
  assertEquals(p.extraStartup, { timezone: "UTC", datestyle: "ISO", geqo: "off" });
  // The string wins over the environment, even when empty (then: the default).
  assertEquals(resolve("user=given", env).user, "given");
  assertEquals(resolve("sslmode=''", env).sslmode, "prefer");
  // PGREQUIRESSL / requiressl mean sslmode=require when sslmode is unset.
  assertEquals(resolve("", { PGREQUIRESSL: "1" }).sslmode, "require");
});

Deno.test("libpq defaults: ~/.postgresql files, ~/.pgpass, TLS 1.2 minimum, keepalives on", () => {
  const p = resolve("", { HOME: "/home/a" });
  assertEquals(p.passfile, "/home/a/.pgpass");
  assertEquals([p.tls.rootCert, p.tls.cert, p.tls.key, p.tls.crl], [
    "/home/a/.postgresql/root.crt",
    "/home/a/.postgresql/postgresql.crt",
    "/home/a/.postgresql/postgresql.key",
    "/home/a/.postgresql/root.crl",
  ]);
  assertEquals([p.tls.minVersion, p.tls.maxVersion, p.tls.sni, p.channelBinding], [
    "TLSv1.2",
    null,
    true,
    "prefer",
  ]);
  assertEquals(p.keepalives, { enabled: true, idle: null, interval: null, count: null });
  assertEquals(
    resolve("keepalives=0 keepalives_idle=5 tcp_user_timeout=7").keepalives.enabled,
    false,
  );
  assertEquals(resolve("tcp_user_timeout=7").tcpUserTimeout, 7);
  assertEquals(resolve("fallback_application_name=fb").applicationName, "fb");
  assertEquals(resolve("fallback_application_name=fb application_name=a").applicationName, "a");
  assertEquals(resolve("client_encoding=auto", { LANG: "de_DE.UTF-8" }).clientEncoding, "UTF8");
  assertEquals(resolve("sslrootcert=system").sslmode, "verify-full");
  // No home directory at all: no password file, no default certificate paths.
  assertEquals([resolve("").passfile, resolve("").tls.rootCert], [null, null]);
});

Deno.test("invalid values give libpq's messages", () => {
  const cases: [string, string][] = [
    ["channel_binding=maybe", 'invalid channel_binding value: "maybe"'],
    ["target_session_attrs=writable", 'invalid target_session_attrs value: "writable"'],
    ["load_balance_hosts=yes", 'invalid load_balance_hosts value: "yes"'],
    ["ssl_min_protocol_version=TLSv9", 'invalid ssl_min_protocol_version value: "TLSv9"'],
    [
      "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
      "invalid SSL protocol version range",
    ],
    ["keepalives_idle=x", 'invalid integer value "x" for connection option "keepalives_idle"'],
    [
      "tcp_user_timeout=1.5",
      'invalid integer value "1.5" for connection option "tcp_user_timeout"',
    ],
    ["sslmode=require sslrootcert=system", 'weak sslmode "require" may not be used'],
    ["require_auth=kerberos", 'invalid require_auth value: "kerberos"'],
    [
      "require_auth=md5,!password",
      'require_auth method "!password" cannot be mixed with negative methods',
    ],
    [
      "require_auth=!md5,password",
      'negative require_auth method "password" cannot be mixed with non-negative methods',
    ],
    ["require_auth=md5,md5", 'require_auth method "md5" is specified more than once'],
    ["sslcompression=2", 'invalid sslcompression value: "2"'],
  ];
  for (const [conninfo, message] of cases) assertThrows(() => resolve(conninfo), message);
});

Deno.test("require_auth: allowed requests and whether authentication is required", () => {
  const r = parseRequireAuth("md5,scram-sha-256");
  assertEquals([[...r.allowed].sort((a, b) => a - b), r.authRequired], [[5, 10], true]);
  const n = parseRequireAuth("none,password");
  assertEquals([[...n.allowed], n.authRequired], [[3], false]);
  const neg = parseRequireAuth("!password,!md5");
  assertEquals([[...neg.allowed].sort((a, b) => a - b), neg.authRequired], [[7, 8, 9, 10], false]);
  assertEquals(parseRequireAuth("!none").authRequired, true);
});

Deno.test("service files: sections, comments, first setting wins, libpq's errors", () => {
  const text = "# c\n[a]\nhost=h1\nport = 5433\nhost=h2\n[b]\ndbname=x\n";
  assertEquals(Object.fromEntries(parseServiceFile(text, "a", "f")!), { host: "h1", port: "5433" });
  assertEquals(parseServiceFile(text, "zz", "f"), null);
  assertThrows(
    () => parseServiceFile("[a]\nnonsense\n", "a", "/s"),
    'syntax error in service file "/s", line 2',
  );
  assertThrows(
    () => parseServiceFile("[a]\nbogus=1\n", "a", "/s"),
    'syntax error in service file "/s", line 2',
  );
  assertThrows(
    () => parseServiceFile("[a]\nservice=b\n", "a", "/s"),
    'nested service specifications not supported in service file "/s", line 2',
  );
  assertThrows(() => parseServiceFile("[a]\nldap://x/y\n", "a", "/s"), "is not supported");
  // Lookup order: PGSERVICEFILE, then PGSYSCONFDIR; the string beats the service, the service beats PG*.
  const files: ConninfoFiles = {
    readText: (p) =>
      p === "/u/svc"
        ? "[s]\nport=1\ndbname=fromuser\n"
        : p === "/etc/pg/pg_service.conf"
        ? "[t]\nport=2\n"
        : null,
    passwdHome: () => null,
  };
  const env = {
    PGSERVICEFILE: "/u/svc",
    PGSYSCONFDIR: "/etc/pg",
    PGPORT: "9",
    PGDATABASE: "envdb",
  };
  const p = resolveConninfo("service=s dbname=given", env, "u", files);
  assertEquals([p.targets[0].port, p.dbname], [1, "given"]);
  assertEquals(resolveConninfo("service=t", env, "u", files).targets[0].port, 2);
  assertEquals(resolveConninfo("service=t", env, "u", files).dbname, "envdb");
  assertThrows(
    () => resolveConninfo("service=x", env, "u", files),
    'definition of service "x" not found',
  );
});

Deno.test(".pgpass matching: wildcards, escapes, first match, socket host names", () => {
  const text = [
    "# comment",
    "",
    String.raw`db\:1:5432:*:bob:colon`,
    "localhost:5432:app:*:local",
    String.raw`*:*:*:bob:a\:b\\c`,
    "*:*:*:*:any",
  ].join("\n");
  assertEquals(findPassword(text, "db:1", "5432", "x", "bob"), "colon");
  assertEquals(findPassword(text, "localhost", "5432", "app", "eve"), "local");
  assertEquals(findPassword(text, "localhost", "5433", "app", "bob"), String.raw`a:b\c`);
  assertEquals(findPassword(text, "h", "1", "d", "eve"), "any");
  assertEquals(findPassword("h:1:d:u:pw", "h", "1", "d", "uu"), null);
  assertEquals(findPassword("h:1:d:u", "h", "1", "d", "u"), null);
  // The default socket directory is "localhost"; other directories match by path.
  assertEquals(resolve("").targets[0].passHost, "localhost");
  assertEquals(resolve("host=/tmp/pg").targets[0].passHost, "/tmp/pg");
  assertEquals(resolve("hostaddr=10.0.0.1").targets[0].passHost, "10.0.0.1");
});

Deno.test("verify-full host names: SANs before CN, wildcards, libpq's messages", () => {
  const cert = (san?: string, cn?: string) => ({ subject: { CN: cn }, subjectaltname: san });
  assertEquals(verifyHostName(cert("DNS:db.example, DNS:*.pg.example"), "db.example"), null);
  assertEquals(verifyHostName(cert("DNS:*.pg.example"), "a.pg.example"), null);
  assertEquals(
    verifyHostName(cert("DNS:*.pg.example"), "a.b.pg.example"),
    'server certificate for "*.pg.example" does not match host name "a.b.pg.example"',
  );
  assertEquals(verifyHostName(cert("IP Address:10.0.0.1"), "10.0.0.1"), null);
  assertEquals(verifyHostName(cert(undefined, "db"), "db"), null);
  assertEquals(
    verifyHostName(cert("DNS:a, DNS:b, DNS:c", "db"), "db"),
    'server certificate for "a" (and 2 other names) does not match host name "db"',
  );
  assertEquals(
    verifyHostName(cert(), "db"),
    "could not get server's host name from server certificate",
  );
});

Deno.test("tls-server-end-point hashes the certificate with its signature's hash", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [md, expected] of [["sha256", "sha256"], ["sha384", "sha384"], ["sha1", "sha256"]]) {
      const out = await new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          `-${md}`,
          "-days",
          "1",
          "-subj",
          "/CN=x",
          "-keyout",
          `${dir}/k`,
          "-outform",
          "DER",
          "-out",
          `${dir}/c`,
        ],
        stderr: "null",
      }).output();
      assert(out.success);
      const der = Deno.readFileSync(`${dir}/c`);
      assertEquals(
        Buffer.from(tlsServerEndPoint(der)).toString("hex"),
        createHash(expected).update(der).digest("hex"),
        md,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the status target shows the connection string without passwords", () => {
  assertEquals(
    describeConninfo("host=/run/pg dbname=acct password=secret application_name='a b'"),
    "host=/run/pg dbname=acct application_name='a b'",
  );
  assertEquals(
    describeConninfo("postgresql://u:secret@db/acct?sslpassword=k"),
    "user=u host=db dbname=acct",
  );
  assertEquals(describeConninfo("dbname='unterminated"), "(invalid connection string)");
});
