// Test fixture: a private PostgreSQL 15 server listening only on a Unix
// socket in its own temp directory. Reusable by any test:
//
//   await withPgServer(async (pg) => { ... pg.conninfo ... });
//
// or `const pg = await PgTestServer.create(); try { ... } finally { await pg.destroy(); }`.
// stop()/start() simulate a server restart. Everything is removed by destroy().

import type { TestCerts } from "./test_certs.ts";

const BIN = "/usr/lib/postgresql/15/bin";

async function run(cmd: string[], what: string): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${what} failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}${text}`,
    );
  }
  return text;
}

const asPostgres = (cmd: string[]) => ["runuser", "-u", "postgres", "--", ...cmd];

export interface PgTestServerOptions {
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string>;
  /** Also listen on 127.0.0.1 (same port number), trust for everyone. */
  tcp?: boolean;
  /** ssl = on with a fresh self-signed certificate for CN "localhost". */
  ssl?: boolean;
  /** ssl = on with this CA's server certificate; the CA also verifies client certificates. */
  certs?: TestCerts;
  /** pg_hba.conf lines placed before the defaults (first match wins). */
  hba?: string[];
}

export class PgTestServer {
  readonly dir: string;
  readonly port: number;
  #running = false;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  get dataDir(): string {
    return `${this.dir}/data`;
  }
  /** The socket directory (libpq "host"). */
  get socketDir(): string {
    return this.dir;
  }
  get socketPath(): string {
    return `${this.dir}/.s.PGSQL.${this.port}`;
  }
  get running(): boolean {
    return this.#running;
  }

  /** key=value conninfo for the superuser "postgres" on database "postgres". */
  conninfo(extra = ""): string {
    return `host=${this.dir} port=${this.port} user=postgres dbname=postgres${
      extra ? " " + extra : ""
    }`;
  }

  /** Creates the cluster and starts it. Cleans up if anything fails. */
  /**
   * Stops the servers of test processes that died without cleaning up (killed
   * by a timeout or SIGKILL: no finally, no unload), and removes their files.
   */
  static async #sweepOrphaned(): Promise<void> {
    const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
    for await (const entry of Deno.readDir(tmp)) {
      if (!entry.name.startsWith(PREFIX)) continue;
      const dir = `${tmp}/${entry.name}`;
      let owner: string;
      try {
        owner = (await Deno.readTextFile(`${dir}/${OWNER_FILE}`)).trim();
      } catch {
        continue; // not ours to judge (no owner recorded)
      }
      if (owner !== "" && ownerStamp(Number(owner.split(" ")[0])) === owner) continue;
      new PgTestServer(dir, 0).destroySync();
    }
  }

  /** A fresh directory owned by postgres, registered for clean-up. */
  static async #allocate(): Promise<PgTestServer> {
    await PgTestServer.#sweepOrphaned();
    const dir = await Deno.makeTempDir({ prefix: PREFIX });
    const server = new PgTestServer(dir, 20000 + Math.floor(Math.random() * 40000));
    live.add(server);
    installEmergencyCleanup();
    await Deno.writeTextFile(`${dir}/${OWNER_FILE}`, ownerStamp(Deno.pid) ?? "");
    await run(["chown", "postgres:postgres", dir], "chown");
    await Deno.chmod(dir, 0o755);
    return server;
  }

  static async create(options: PgTestServerOptions = {}): Promise<PgTestServer> {
    const server = await PgTestServer.#allocate();
    const dir = server.dir;
    const port = server.port;
    try {
      await run(
        asPostgres([
          `${BIN}/initdb`,
          "-D",
          server.dataDir,
          "-U",
          "postgres",
          "-A",
          "trust",
          "-E",
          "UTF8",
          "--locale=C",
          "--no-sync",
        ]),
        "initdb",
      );
      const settings: Record<string, string> = {
        listen_addresses: "''",
        unix_socket_directories: `'${dir}'`,
        port: String(port),
        fsync: "off",
        // "on": a test that SIGKILLs the server must keep every row it already confirmed.
        synchronous_commit: "on",
        full_page_writes: "off",
        shared_buffers: "16MB",
        max_connections: "50",
        ...options.settings,
      };
      if (options.tcp) settings.listen_addresses = "'127.0.0.1'";
      if (options.ssl) {
        await run([
          "openssl",
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-keyout",
          `${server.dataDir}/server.key`,
          "-out",
          `${server.dataDir}/server.crt`,
        ], "openssl");
        await run(
          [
            "chown",
            "postgres:postgres",
            `${server.dataDir}/server.key`,
            `${server.dataDir}/server.crt`,
          ],
          "chown",
        );
        await Deno.chmod(`${server.dataDir}/server.key`, 0o600);
        settings.ssl = "on";
      }
      if (options.certs) {
        const c = options.certs;
        for (
          const [from, to] of [[c.serverCert, "server.crt"], [c.serverKey, "server.key"], [
            c.caCert,
            "root.crt",
          ]]
        ) {
          await Deno.copyFile(from, `${server.dataDir}/${to}`);
          await run(["chown", "postgres:postgres", `${server.dataDir}/${to}`], "chown");
          await Deno.chmod(`${server.dataDir}/${to}`, 0o600);
        }
        settings.ssl = "on";
        settings.ssl_ca_file = "'root.crt'";
      }
      const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join("");
      await Deno.writeTextFile(`${server.dataDir}/postgresql.conf`, conf, { append: true });
      // Password users for the authentication tests; everyone else: trust.
      await Deno.writeTextFile(
        `${server.dataDir}/pg_hba.conf`,
        (options.hba ?? []).map((l) => l + "\n").join("") +
          "local all scram_user scram-sha-256\n" +
          "local all md5_user md5\n" +
          "local all all trust\n" +
          "host all all 127.0.0.1/32 trust\n",
      );
      await server.start();
    } catch (e) {
      await server.destroy();
      throw e;
    }
    return server;
  }

  /**
   * A hot standby of `primary` (pg_basebackup -R over its socket; the primary
   * needs the hba line "local replication all trust"). Unix socket only.
   */
  static async createStandby(primary: PgTestServer): Promise<PgTestServer> {
    const server = await PgTestServer.#allocate();
    const dir = server.dir;
    const port = server.port;
    try {
      await run(
        asPostgres([
          `${BIN}/pg_basebackup`,
          "-D",
          server.dataDir,
          "-h",
          primary.socketDir,
          "-p",
          String(primary.port),
          "-U",
          "postgres",
          "-R",
          "-X",
          "stream",
          "--no-sync",
        ]),
        "pg_basebackup",
      );
      // Later lines win: this server's own socket and port.
      await Deno.writeTextFile(
        `${server.dataDir}/postgresql.conf`,
        `listen_addresses = ''\nunix_socket_directories = '${dir}'\nport = ${port}\nhot_standby = on\n`,
        { append: true },
      );
      await server.start();
    } catch (e) {
      await server.destroy();
      throw e;
    }
    return server;
  }

  async start(): Promise<void> {
    await this.#removeStaleLocks();
    await run(
      asPostgres([
        `${BIN}/pg_ctl`,
        "-D",
        this.dataDir,
        "-l",
        `${this.dir}/server.log`,
        "-w",
        "-t",
        "30",
        "start",
      ]),
      "pg_ctl start",
    ).catch(async (e) => {
      let log = "";
      try {
        log = (await Deno.readTextFile(`${this.dir}/server.log`)).split("\n").slice(-15).join("\n");
      } catch {
        // no log
      }
      throw new Error(`${e instanceof Error ? e.message : e}\nserver.log (last lines):\n${log}`);
    });
    this.#running = true;
  }

  /**
   * After a SIGKILLed postmaster: waits until it is dead, then removes its
   * lock files. A zombie counts as dead, but PostgreSQL takes its pid (which
   * kill(pid, 0) still finds) for a live postmaster, and this VM's PID 1 may
   * take long to reap orphans.
   */
  async #removeStaleLocks(): Promise<void> {
    let pid: number;
    try {
      pid = Number((await Deno.readTextFile(`${this.dataDir}/postmaster.pid`)).split("\n")[0]);
    } catch {
      return; // no lock: a clean stop, or never started
    }
    const alive = () => {
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
      } catch {
        return false;
      }
    };
    for (const end = Date.now() + 10_000; alive();) {
      if (Date.now() > end) return; // still running: let pg_ctl say so
      await new Promise((r) => setTimeout(r, 20));
    }
    await Deno.remove(`${this.dataDir}/postmaster.pid`).catch(() => {});
    for await (const e of Deno.readDir(this.dir)) {
      if (/^\.s\.PGSQL\.\d+\.lock$/.test(e.name)) {
        await Deno.remove(`${this.dir}/${e.name}`).catch(() => {});
      }
    }
  }

  /** Fast shutdown: sessions are terminated, the socket disappears. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await run(
      asPostgres([`${BIN}/pg_ctl`, "-D", this.dataDir, "-m", mode, "-w", "-t", "30", "stop"]),
      "pg_ctl stop",
    );
    this.#running = false;
  }

  /** Runs SQL through psql as postgres; returns unaligned tuples-only output. */
  psql(sql: string, dbname = "postgres"): Promise<string> {
    return run(
      asPostgres([
        `${BIN}/psql`,
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        this.dir,
        "-p",
        String(this.port),
        "-d",
        dbname,
        "-c",
        sql,
      ]),
      `psql ${JSON.stringify(sql)}`,
    );
  }

  /** Stops the server (if running) and removes the directory. Never throws. */
  async destroy(): Promise<void> {
    live.delete(this);
    if (this.#running) {
      try {
        await this.stop("immediate");
      } catch {
        // fall through to killing by pid file
        try {
          const pid = Number(
            (await Deno.readTextFile(`${this.dataDir}/postmaster.pid`)).split("\n")[0],
          );
          if (pid > 0) Deno.kill(pid, "SIGKILL");
        } catch {
          // nothing left to stop
        }
      }
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Synchronous last resort when the process dies with servers still up. */
  destroySync(): void {
    live.delete(this);
    try {
      const pid = Number(Deno.readTextFileSync(`${this.dataDir}/postmaster.pid`).split("\n")[0]);
      // Only that postmaster: a stale pid file's pid may be another process now.
      const cmdline = pid > 0 ? Deno.readTextFileSync(`/proc/${pid}/cmdline`) : "";
      if (cmdline.includes(this.dataDir)) {
        Deno.kill(pid, "SIGQUIT"); // immediate shutdown, children included
        const wait = new Int32Array(new SharedArrayBuffer(4));
        for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) Atomics.wait(wait, 0, 0, 20);
      }
    } catch {
      // not running
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // already gone
    }
  }
}

const live = new Set<PgTestServer>();

const PREFIX = "spawn-pgtest-";
const OWNER_FILE = "owner";

/** "PID STARTTIME" of a live process (start time rules out pid reuse), or null. */
function ownerStamp(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return `${pid} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return null;
  }
}

let emergencyInstalled = false;

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

// A test process that dies of an uncaught error skips finally blocks: stop
// our servers anyway.
function installEmergencyCleanup(): void {
  if (emergencyInstalled) return;
  emergencyInstalled = true;
  const cleanup = () => {
    for (const s of [...live]) s.destroySync();
  };
  globalThis.addEventListener("unload", cleanup);
  globalThis.addEventListener("error", cleanup);
  globalThis.addEventListener("unhandledrejection", cleanup);
}

export async function withPgServer<T>(
  fn: (server: PgTestServer) => Promise<T>,
  options?: PgTestServerOptions,
): Promise<T> {
  const server = await PgTestServer.create(options);
  try {
    return await fn(server);
  } finally {
    await server.destroy();
  }
}
