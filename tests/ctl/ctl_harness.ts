// What the control, STATUS= and journal tests share: datagram sockets the
// test binds (standing in for systemd's notify socket and journald's native
// socket), cm4all-spawnctl as a child (also as another uid), and the wrapper
// that makes JOURNAL_STREAM match a daemon's stderr.
import { closeQuietly } from "../../ffi/fd.ts";
import { bind, SOCK_DGRAM, unixSocket } from "../../ffi/socket.ts";
import { MessageReceiver } from "../../ffi/socket_message.ts";
import { decodeJournalEntry } from "../../shared/journal.ts";

export const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
export const SPAWNCTL = new URL("../../spawnctl/main.ts", import.meta.url).pathname;
export const ACCESSORY = new URL("../../accessory/main.ts", import.meta.url).pathname;

/** A bound SOCK_DGRAM socket at a path; collects every datagram until closed. */
export class DatagramSink {
  readonly fd: number;
  readonly datagrams: Uint8Array[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #buffer = new Uint8Array(256 * 1024);
  readonly #receiver = new MessageReceiver(4);

  constructor(readonly path: string) {
    this.fd = unixSocket(SOCK_DGRAM);
    bind(this.fd, path);
    Deno.chmodSync(path, 0o666);
    this.#timer = setInterval(() => this.drain(), 5);
  }

  drain(): void {
    for (let m; (m = this.#receiver.receive(this.fd, this.#buffer)) !== null;) {
      for (const fd of m.fds) closeQuietly(fd);
      this.datagrams.push(this.#buffer.slice(0, m.length));
    }
  }

  texts(): string[] {
    this.drain();
    return this.datagrams.map((d) => new TextDecoder().decode(d));
  }

  /** Journal entries as field maps (values decoded as UTF-8). */
  entries(): Map<string, string>[] {
    this.drain();
    return this.datagrams.map((d) =>
      new Map([...decodeJournalEntry(d)].map(([k, v]) => [k, new TextDecoder().decode(v)]))
    );
  }

  close(): void {
    clearInterval(this.#timer);
    closeQuietly(this.fd);
    try {
      Deno.removeSync(this.path);
    } catch {
      // gone
    }
  }
}

/** Runs argv with JOURNAL_STREAM set to its own stderr's device:inode (as systemd does). */
export function journalWrapper(): string[] {
  return ["sh", "-c", 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"', "sh"];
}

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** cm4all-spawnctl ARGS, as root or (uid given) as that uid with its own DENO_DIR. */
export async function spawnctl(args: string[], uid?: number): Promise<Output> {
  let denoDir: string | null = null;
  let argv = [DENO, "run", "-A", SPAWNCTL, ...args];
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (uid !== undefined) {
    denoDir = Deno.makeTempDirSync({ prefix: "ctl-deno-dir-" });
    Deno.chownSync(denoDir, uid, uid);
    Object.assign(env, { DENO_DIR: denoDir, HOME: denoDir });
    argv = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...argv];
  }
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: "/",
      env,
      stdin: "null",
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  } finally {
    if (denoDir) Deno.removeSync(denoDir, { recursive: true });
  }
}

export async function spawnctlJson<T>(args: string[]): Promise<T> {
  const out = await spawnctl([...args, "--json"]);
  if (out.code !== 0) throw new Error(`spawnctl ${args.join(" ")}: ${out.code} ${out.stderr}`);
  return JSON.parse(out.stdout) as T;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls an async condition every 50 ms; throws with what() after ms. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  what: () => string,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

/**
 * Parses OpenMetrics text back: sample name (with labels) -> value, and
 * checks the framing (TYPE before samples, counters' _total, "# EOF" last).
 */
export function parseOpenMetrics(text: string): Map<string, number> {
  const lines = text.split("\n");
  if (lines.at(-1) !== "" || lines.at(-2) !== "# EOF") throw new Error("no '# EOF' at the end");
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of lines.slice(0, -2)) {
    const type = line.match(/^# TYPE ([a-z0-9_]+) (gauge|counter)$/);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = line.match(/^([a-z0-9_]+)(\{[^}]*\})? (-?[0-9.e+]+)$/);
    if (!m) throw new Error(`not an OpenMetrics line: ${JSON.stringify(line)}`);
    const family = types.has(m[1]) ? m[1] : m[1].replace(/_total$/, "");
    const kind = types.get(family);
    if (kind === undefined) throw new Error(`sample without TYPE: ${line}`);
    if ((kind === "counter") !== m[1].endsWith("_total")) {
      throw new Error(`counter sample names end in _total, others not: ${line}`);
    }
    samples.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return samples;
}
