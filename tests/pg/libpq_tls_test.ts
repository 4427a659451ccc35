// TLS as libpq does it, against a real PostgreSQL 15 with certificates from
// our own CA (openssl): verify-full, wrong CA, wrong host name, client
// certificates through a `cert` line in pg_hba.conf, channel binding,
// require_auth and libpq's sslmode fallbacks. psql (libpq) is the oracle.
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { resolveConninfo } from "../../reaper/pg/conninfo.ts";
import { withPgServer } from "./pg_server.ts";
import { TestCerts } from "./test_certs.ts";
import { errorOf, psqlOracle, queryWith, testOpts, valueOf } from "./libpq_oracle.ts";

const SSL = "SELECT ssl::text || ' ' || current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

Deno.test(
  "TLS: verify-full, wrong CA, wrong host, client certificates, channel binding",
  testOpts,
  async () => {
    const certs = await TestCerts.create(["certuser"]);
    try {
      await withPgServer(async (pg) => {
        await pg.psql(
          "CREATE USER certuser; SET password_encryption = 'scram-sha-256'; " +
            "CREATE USER scram_user PASSWORD 'pw'",
        );
        const tcp = (host: string, extra: string) =>
          `host=${host} hostaddr=127.0.0.1 port=${pg.port} dbname=postgres ${extra}`;
        const ca = `sslrootcert=${certs.caCert}`;

        // verify-full with the right CA and name passes.
        assertEquals(
          valueOf(
            await queryWith(tcp("localhost", `user=postgres sslmode=verify-full ${ca}`), SSL),
          ),
          "true postgres",
        );
        // A wrong CA: libpq's "certificate verify failed", at once.
        const wrongCa = tcp(
          "localhost",
          `user=postgres sslmode=verify-full sslrootcert=${certs.otherCaCert}`,
        );
        const e1 = errorOf(await queryWith(wrongCa, SSL));
        assertMatch(
          e1,
          /^connection to server at "localhost" \(127\.0\.0\.1\), port \d+ failed: |failed: SSL error: certificate verify failed/,
        );
        assertMatch(e1, /SSL error: certificate verify failed/);
        const o1 = await psqlOracle(wrongCa, "SELECT 1");
        assert(!o1.ok && o1.text.includes("certificate verify failed"), o1.text);
        // verify-ca ignores the name; verify-full refuses it with libpq's message.
        assertEquals(
          valueOf(await queryWith(tcp("otherhost", `user=postgres sslmode=verify-ca ${ca}`), SSL)),
          "true postgres",
        );
        const wrongHost = tcp("otherhost", `user=postgres sslmode=verify-full ${ca}`);
        const e2 = errorOf(await queryWith(wrongHost, SSL));
        const o2 = await psqlOracle(wrongHost, "SELECT 1");
        const libpqText =
          'server certificate for "localhost" (and 1 other name) does not match host name "otherhost"';
        assert(!o2.ok && o2.text.includes(libpqText), o2.text);
        assert(e2.includes(libpqText), e2);
        // sslcrl / sslcrldir: a CRL revoking the server's certificate refuses it.
        const emptyCrl = await certs.crl("none", []);
        const revokingCrl = await certs.crl("server", [certs.serverCert]);
        const full = tcp("localhost", `user=postgres sslmode=verify-full ${ca}`);
        assertEquals(valueOf(await queryWith(`${full} sslcrl=${emptyCrl}`, SSL)), "true postgres");
        const e3 = errorOf(await queryWith(`${full} sslcrl=${revokingCrl}`, SSL));
        assertMatch(e3, /SSL error: certificate verify failed \(certificate revoked\)/);
        const o3r = await psqlOracle(`${full} sslcrl=${revokingCrl}`, "SELECT 1");
        assert(!o3r.ok && o3r.text.includes("certificate verify failed"), o3r.text);
        const crlDir = `${certs.dir}/crl_server`;
        for (
          const f of [
            "index.txt",
            "index.txt.attr",
            "index.txt.old",
            "crlnumber",
            "crlnumber.old",
            "ca.cnf",
          ]
        ) {
          await Deno.remove(`${crlDir}/${f}`).catch(() => {});
        }
        assertMatch(
          errorOf(await queryWith(`${full} sslcrldir=${crlDir}`, SSL)),
          /certificate verify failed \(certificate revoked\)/,
        );
        // A root.crt in ~/.postgresql makes even sslmode=require verify the chain (libpq).
        const home = await Deno.makeTempDir();
        try {
          await Deno.mkdir(`${home}/.postgresql`);
          await Deno.copyFile(certs.otherCaCert, `${home}/.postgresql/root.crt`);
          const req = tcp("localhost", "user=postgres sslmode=require");
          assertMatch(
            errorOf(await queryWith(req, SSL, { HOME: home })),
            /certificate verify failed/,
          );
          const o3 = await psqlOracle(req, "SELECT 1", { HOME: home });
          assert(!o3.ok && o3.text.includes("certificate verify failed"), o3.text);
          // ...and the default client certificate there is sent.
          await Deno.copyFile(certs.caCert, `${home}/.postgresql/root.crt`);
          await Deno.copyFile(certs.clientCert("certuser"), `${home}/.postgresql/postgresql.crt`);
          await Deno.copyFile(certs.clientKey("certuser"), `${home}/.postgresql/postgresql.key`);
          await Deno.chmod(`${home}/.postgresql/postgresql.key`, 0o600);
          assertEquals(
            valueOf(
              await queryWith(tcp("localhost", "user=certuser sslmode=verify-full"), SSL, {
                HOME: home,
              }),
            ),
            "true certuser",
          );
        } finally {
          await Deno.remove(home, { recursive: true });
        }
        // sslrootcert=system: our private CA is not among the system's roots.
        const sys = tcp("localhost", "user=postgres sslrootcert=system");
        assertMatch(errorOf(await queryWith(sys, SSL)), /certificate verify failed/);
        assertThrows(
          () =>
            resolveConninfo(
              tcp("localhost", "user=postgres sslmode=require sslrootcert=system"),
              {},
              "root",
            ),
          /weak sslmode "require" may not be used with sslrootcert=system/,
        );

        // Client certificate authentication ("hostssl ... cert").
        const cert = (extra: string) =>
          tcp(
            "localhost",
            `user=certuser sslmode=verify-full ${ca} sslcert=${
              certs.clientCert("certuser")
            } sslkey=${certs.clientKey("certuser")} ${extra}`,
          );
        assertEquals(valueOf(await queryWith(cert(""), SSL)), "true certuser");
        assertEquals(
          valueOf(
            await queryWith(
              cert("ssl_min_protocol_version=TLSv1.2 ssl_max_protocol_version=TLSv1.2"),
              "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ),
          ),
          "TLSv1.2",
        );
        const noCert = tcp("localhost", `user=certuser sslmode=verify-full ${ca}`);
        assertMatch(
          errorOf(await queryWith(noCert, SSL)),
          /connection requires a valid client certificate/,
        );
        assertMatch(
          errorOf(await queryWith(cert("sslcertmode=disable"), SSL)),
          /connection requires a valid client certificate/,
        );
        // An encrypted key with sslpassword.
        const encKey = `${certs.dir}/enc.key`;
        const cmd = await new Deno.Command("openssl", {
          args: [
            "rsa",
            "-in",
            certs.clientKey("certuser"),
            "-aes256",
            "-passout",
            "pass:k3y",
            "-out",
            encKey,
          ],
          stderr: "null",
        }).output();
        assert(cmd.success);
        await Deno.chmod(encKey, 0o600);
        assertEquals(
          valueOf(await queryWith(cert(`sslkey=${encKey} sslpassword=k3y`), SSL)),
          "true certuser",
        );
        // A key readable by others is refused like libpq does (root owns it: 0640 is allowed, 0644 not).
        await Deno.chmod(certs.clientKey("certuser"), 0o644);
        const e4 = errorOf(await queryWith(cert(""), SSL));
        assertMatch(e4, /private key file ".*" has group or world access/);
        const o4 = await psqlOracle(cert(""), "SELECT 1");
        assert(!o4.ok && o4.text.includes("has group or world access"), o4.text);
        await Deno.chmod(certs.clientKey("certuser"), 0o600);

        // Channel binding: required over TLS works (SCRAM-SHA-256-PLUS)...
        const scram = (extra: string) =>
          tcp("localhost", `user=scram_user password=pw sslmode=verify-full ${ca} ${extra}`);
        assertEquals(
          valueOf(await queryWith(scram("channel_binding=require"), SSL)),
          "true scram_user",
        );
        assertEquals(
          valueOf(await queryWith(scram("channel_binding=disable"), SSL)),
          "true scram_user",
        );
        const o5 = await psqlOracle(scram("channel_binding=require"), "SELECT 1");
        assert(o5.ok, o5.text);
        // ...without TLS it is refused, before any password is sent.
        const unixScram =
          `host=${pg.socketDir} port=${pg.port} dbname=postgres user=scram_user password=pw`;
        const e6 = errorOf(await queryWith(`${unixScram} channel_binding=require`, "SELECT 1"));
        assertMatch(e6, /failed: channel binding required, but SSL not in use/);
        const o6 = await psqlOracle(`${unixScram} channel_binding=require`, "SELECT 1");
        assert(!o6.ok && o6.text.includes("channel binding required, but SSL not in use"), o6.text);
        // ...and a server that asks for no password at all cannot bind.
        assertMatch(
          errorOf(
            await queryWith(
              `host=${pg.socketDir} port=${pg.port} user=postgres channel_binding=require`,
              "SELECT 1",
            ),
          ),
          /channel binding required, but server authenticated client without channel binding/,
        );

        // require_auth (libpq 16 wording).
        assertEquals(
          valueOf(await queryWith(scram("require_auth=scram-sha-256"), SSL)),
          "true scram_user",
        );
        assertMatch(
          errorOf(await queryWith(scram("require_auth=md5,password"), SSL)),
          /authentication method requirement "md5,password" failed: server requested SASL authentication/,
        );
        assertMatch(
          errorOf(await queryWith(scram("require_auth=!scram-sha-256"), SSL)),
          /authentication method requirement "!scram-sha-256" failed: server requested SASL authentication/,
        );
        assertMatch(
          errorOf(
            await queryWith(
              tcp("localhost", `user=postgres ${ca} require_auth=scram-sha-256`),
              SSL,
            ),
          ),
          /authentication method requirement "scram-sha-256" failed: server did not complete authentication/,
        );
        assertEquals(
          valueOf(await queryWith(tcp("localhost", `user=postgres ${ca} require_auth=none`), SSL)),
          "true postgres",
        );
      }, {
        tcp: true,
        certs,
        hba: [
          "hostssl all certuser 127.0.0.1/32 cert",
          "hostssl all scram_user 127.0.0.1/32 scram-sha-256",
        ],
      });
    } finally {
      await certs.remove();
    }
  },
);

Deno.test("sslmode allow and prefer fall back like libpq; require insists", testOpts, async () => {
  const certs = await TestCerts.create();
  try {
    // Only TLS sessions are accepted over TCP.
    await withPgServer(async (pg) => {
      const base = `host=127.0.0.1 port=${pg.port} user=postgres dbname=postgres`;
      for (const mode of ["allow", "prefer", "require"]) {
        assertEquals(
          valueOf(await queryWith(`${base} sslmode=${mode}`, SSL)),
          "true postgres",
          mode,
        );
      }
      const e = errorOf(await queryWith(`${base} sslmode=disable`, SSL));
      assertMatch(
        e,
        /FATAL: pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "postgres", database "postgres", no encryption/,
      );
    }, { tcp: true, certs, hba: ["hostnossl all all 127.0.0.1/32 reject"] });
    // Only plain sessions are accepted over TCP.
    await withPgServer(async (pg) => {
      const base = `host=127.0.0.1 port=${pg.port} user=postgres dbname=postgres`;
      for (const mode of ["disable", "allow", "prefer"]) {
        assertEquals(
          valueOf(await queryWith(`${base} sslmode=${mode}`, SSL)),
          "false postgres",
          mode,
        );
      }
      assertMatch(
        errorOf(await queryWith(`${base} sslmode=require`, SSL)),
        /FATAL: pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "postgres", database "postgres", SSL encryption/,
      );
    }, { tcp: true, certs, hba: ["hostssl all all 127.0.0.1/32 reject"] });
  } finally {
    await certs.remove();
  }
});
