// reaper/main.ts as a child process, for the tests that run the real daemon.
import { waitFor } from "./cgroup_fixture.ts";

const DENO = Deno.execPath();
const MAIN = new URL("../../reaper/main.ts", import.meta.url).pathname;

/** reaper/main.ts as a child; stderr and stdout collected as text. */
export class ReaperProcess {
  readonly child: Deno.ChildProcess;
  stderr = "";
  stdout = "";
  exited: number | null = null;
  readonly #reading: Promise<unknown>;

  constructor(args: string[], wrapper: string[] = []) {
    const argv = [...wrapper, DENO, "run", "-A", MAIN, ...args];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child.status.then((s) => this.exited = s.signal !== null ? -1 : s.code);
    const pump = async (stream: ReadableStream<Uint8Array>, into: "stderr" | "stdout") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[into] += decoder.decode(chunk, { stream: true });
    };
    this.#reading = Promise.all([
      pump(this.child.stdout, "stdout"),
      pump(this.child.stderr, "stderr"),
    ]);
  }

  get pid(): number {
    return this.child.pid;
  }

  count(pattern: RegExp): number {
    return this.stderr.split("\n").filter((l) => pattern.test(l)).length;
  }

  async waitForLog(pattern: RegExp, ms = 20_000): Promise<void> {
    await waitFor(
      () => {
        if (this.exited !== null) {
          throw new Error(`reaper exited (${this.exited}):\n${this.stderr}`);
        }
        return pattern.test(this.stderr);
      },
      `reaper log ${pattern}\n${this.stderr.slice(-2000)}`,
      ms,
    );
  }

  /** VmRSS in KiB. */
  rssKiB(): number {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]);
  }

  async kill(signal: Deno.Signal): Promise<void> {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
    await this.child.status;
    await this.#reading;
  }

  /** SIGTERM, SIGKILL after 5 s; idempotent. */
  async stop(): Promise<void> {
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5000);
    try {
      await this.kill("SIGTERM");
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs reaper/main.ts to completion (--check-lua, --simulate, usage errors). */
export async function runReaper(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DENO, { args: ["run", "-A", MAIN, ...args], stdin: "null" })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
