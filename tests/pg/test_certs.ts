// Test fixture: a private certificate authority made with `openssl`, a server
// certificate for "localhost" (and 127.0.0.1) and client certificates, all in
// one temp directory. `await TestCerts.create()`; `remove()` afterwards.

async function openssl(args: string[], what: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${what} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

export class TestCerts {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }
  get caCert(): string {
    return `${this.dir}/ca.crt`;
  }
  get serverCert(): string {
    return `${this.dir}/server.crt`;
  }
  get serverKey(): string {
    return `${this.dir}/server.key`;
  }
  /** A second, unrelated CA (the "wrong CA"). */
  get otherCaCert(): string {
    return `${this.dir}/other_ca.crt`;
  }
  clientCert(cn: string): string {
    return `${this.dir}/client_${cn}.crt`;
  }
  clientKey(cn: string): string {
    return `${this.dir}/client_${cn}.key`;
  }

  static async create(clients: string[] = []): Promise<TestCerts> {
    const certs = new TestCerts(await Deno.makeTempDir({ prefix: "spawn-pgcerts-" }));
    const d = certs.dir;
    try {
      for (const [name, cn] of [["ca", "spawn test CA"], ["other_ca", "other CA"]]) {
        await openssl([
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "2",
          "-subj",
          `/CN=${cn}`,
          "-keyout",
          `${d}/${name}.key`,
          "-out",
          `${d}/${name}.crt`,
        ], `${name} CA`);
      }
      await certs.#issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
      for (const cn of clients) await certs.#issue(`client_${cn}`, cn, null);
      for (const e of Deno.readDirSync(d)) await Deno.chmod(`${d}/${e.name}`, 0o600);
      await Deno.chmod(d, 0o755);
    } catch (e) {
      await certs.remove();
      throw e;
    }
    return certs;
  }

  async #issue(name: string, cn: string, ext: string | null): Promise<void> {
    const d = this.dir;
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      `${d}/${name}.key`,
      "-out",
      `${d}/${name}.csr`,
    ], `${name} request`);
    const extFile = `${d}/${name}.ext`;
    await Deno.writeTextFile(extFile, ext === null ? "" : `${ext}\n`);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${d}/${name}.csr`,
      "-CA",
      `${d}/ca.crt`,
      "-CAkey",
      `${d}/ca.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      extFile,
      "-out",
      `${d}/${name}.crt`,
    ], `${name} certificate`);
  }

  /** A CRL signed by our CA that revokes these certificate files; returns its path. */
  async crl(name: string, revoke: string[]): Promise<string> {
    const d = `${this.dir}/crl_${name}`;
    await Deno.mkdir(d);
    await Deno.writeTextFile(`${d}/index.txt`, "");
    await Deno.writeTextFile(`${d}/crlnumber`, "01\n");
    await Deno.writeTextFile(
      `${d}/ca.cnf`,
      `[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = ${d}/index.txt\n` +
        `crlnumber = ${d}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n`,
    );
    const ca = ["-config", `${d}/ca.cnf`, "-keyfile", `${this.dir}/ca.key`, "-cert", this.caCert];
    for (const cert of revoke) await openssl(["ca", ...ca, "-revoke", cert], "revoke");
    await openssl(["ca", ...ca, "-gencrl", "-out", `${d}/crl.pem`], "gencrl");
    return `${d}/crl.pem`;
  }

  async remove(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
