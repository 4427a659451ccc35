// Runs the daemons as children for `start` and `demo`: prefixed output,
// waiting for a log line, stopping with a signal.
import { writeAllSync } from "../shared/log.ts";
import { LineSplitter, prefixFor, prefixLines } from "./line_splitter.ts";
import { REPO } from "./dist.ts";
import { PROGRAMS } from "./layout.ts";

const useColour = () => Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;

export class Supervised {
  readonly child: Deno.ChildProcess;
  /** Every line seen so far, unprefixed (for waiting on log lines). */
  readonly lines: string[] = [];
  readonly #done: Promise<unknown>;
  #waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    argv: string[],
    options: { colour?: number; quiet?: boolean } = {},
  ) {
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const prefix = prefixFor(name, useColour() ? options.colour : undefined);
    // Both streams go to our stdout: one ordered, prefixed log.
    this.#done = Promise.all([
      this.#pump(this.child.stdout, prefix, options.quiet ?? false),
      this.#pump(this.child.stderr, prefix, options.quiet ?? false),
    ]);
  }

  async #pump(stream: ReadableStream<Uint8Array>, prefix: string, quiet: boolean): Promise<void> {
    const splitter = new LineSplitter();
    const emit = (lines: string[]) => {
      if (lines.length === 0) return;
      if (!quiet) writeAllSync(Deno.stdout, prefixLines(prefix, lines));
      this.lines.push(...lines);
      this.#waiters.splice(0).forEach((wake) => wake());
    };
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      emit(splitter.push(chunk));
    }
    emit(splitter.flush());
  }

  /** Resolves with the first line matching pattern; rejects after timeoutMs or on exit. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.child.status.then(() => exited = true);
    for (;;) {
      const found = this.lines.find((line) => pattern.test(line));
      if (found !== undefined) return found;
      if (exited) throw new Error(`${this.name} exited before printing ${pattern}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} printed no line matching ${pattern} in time`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  signal(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* already exited */ }
  }

  /** Sends signal (if still running) and waits for the exit and the last output. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    this.signal(signal);
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  /** Waits for the exit and the last output. */
  async finished(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#done;
    return status;
  }
}

/** argv that runs a repository program with the pinned deno (and its V8 flags). */
export function denoRun(entry: string, args: string[]): string[] {
  const v8Flags = PROGRAMS.find((p) => p.entry === entry)?.v8Flags ?? [];
  const v8 = v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : [];
  return [Deno.execPath(), "run", "-A", ...v8, `${REPO}/${entry}`, ...args];
}
