// deno task start: both daemons in the foreground with prefixed output;
// Ctrl-C (SIGINT to the process group) or SIGTERM stops both cleanly.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { kill } from "../../ffi/process.ts";

const START = new URL("../../packaging/start.ts", import.meta.url).pathname;
const SIGINT = 2;

interface Started {
  child: Deno.ChildProcess;
  output: string[];
  done: Promise<void>;
}

/** Runs start.ts as the leader of a new process group (like a shell job). */
function start(args: string[]): Started {
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "run", "-A", START, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const output: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) output.push(text);
  };
  return {
    child,
    output,
    done: Promise.all([collect(child.stdout), collect(child.stderr)]).then(),
  };
}

async function waitFor(started: Started, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pattern.test(started.output.join(""))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${pattern} in:\n${started.output.join("")}`);
}

function uniqueArgs(): string[] {
  const id = crypto.randomUUID().slice(0, 8);
  return [
    "--listen",
    `@cm4all-spawn-start-test-${id}`,
    "--scope",
    `/cm4all-spawn-start-${id}.scope`,
  ];
}

async function stopAndCheck(started: Started, stop: () => void): Promise<string> {
  try {
    await waitFor(started, /^\[accessory\] listening/m);
    await waitFor(started, /^\[reaper\] watching/m);
    stop();
    const status = await started.child.status;
    await started.done;
    const text = started.output.join("");
    assertEquals(status.code, 0, text);
    return text;
  } finally {
    try {
      kill(-started.child.pid, 9);
    } catch { /* group gone */ }
  }
}

function assertDaemonsGone(text: string) {
  const pids = /accessory pid (\d+), reaper pid (\d+)/.exec(text);
  assert(pids, text);
  for (const pid of [pids[1], pids[2]]) assert(!kill(Number(pid), 0), `daemon ${pid} still runs`);
}

Deno.test("Ctrl-C (SIGINT to the process group) stops both daemons cleanly", async () => {
  const started = start(uniqueArgs());
  const text = await stopAndCheck(started, () => kill(-started.child.pid, SIGINT));
  assertMatch(text, /^\[accessory\] SIG(INT|TERM): shutting down$/m);
  assertMatch(text, /^\[reaper\] SIG(INT|TERM): shutting down$/m);
  assertMatch(text, /^\[start\] stopped$/m);
  for (const line of text.trimEnd().split("\n")) {
    assertMatch(line, /^\[(start|accessory|reaper)\] /, "every line is prefixed");
  }
  assertDaemonsGone(text);
});

Deno.test("SIGTERM to start alone is passed on to both daemons", async () => {
  const started = start(uniqueArgs());
  const text = await stopAndCheck(started, () => started.child.kill("SIGTERM"));
  assertMatch(text, /^\[accessory\] SIGTERM: shutting down$/m);
  assertMatch(text, /^\[reaper\] SIGTERM: shutting down$/m);
  assertDaemonsGone(text);
});

Deno.test("a daemon that fails stops the other and start exits 1", async () => {
  const started = start(["--listen", "/nonexistent-dir/socket", ...uniqueArgs().slice(2)]);
  try {
    const status = await started.child.status;
    await started.done;
    const text = started.output.join("");
    assertEquals(status.code, 1, text);
    assertMatch(
      text,
      /^\[accessory\] cm4all-spawn-accessory: --listen \/nonexistent-dir\/socket: /m,
    );
    assertMatch(text, /^\[start\] accessory exited with status 1: stopping$/m);
    assertDaemonsGone(text);
  } finally {
    try {
      kill(-started.child.pid, 9);
    } catch { /* group gone */ }
  }
});
