// Real LuaJIT (Debian's `luajit`) as the oracle of the differential tests:
// runs Lua source and returns its stdout as latin1 text (binary-safe).
import { runLuaSource } from "./lua_file_runner.ts";

export interface OracleRun {
  output: string;
  error: string;
}

const latin1 = (bytes: Uint8Array) => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
};

/** Runs source in `luajit -` (reading the chunk from stdin), with extra environment. */
export async function runLuaJit(
  source: Uint8Array,
  env: Record<string, string> = {},
): Promise<OracleRun> {
  const child = new Deno.Command("luajit", {
    args: ["-"],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(source);
  await writer.close();
  const { stdout, stderr } = await child.output();
  return { output: latin1(stdout), error: latin1(stderr) };
}

/** Runs source in our runtime: in this process, or in a child with extra environment (e.g. TZ). */
export async function runOurs(
  source: Uint8Array,
  env?: Record<string, string>,
): Promise<OracleRun> {
  if (env === undefined) {
    const r = runLuaSource(source, "=stdin");
    return { output: r.output, error: r.error ?? "" };
  }
  const file = await Deno.makeTempFile({ suffix: ".lua" });
  try {
    await Deno.writeFile(file, source);
    const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./lua_file_runner.ts", import.meta.url).pathname, file],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { output: latin1(stdout), error: latin1(stderr) };
  } finally {
    await Deno.remove(file);
  }
}

/** Compares two outputs line by line; returns the number of lines compared, throws on the first difference. */
export function compareLines(ours: string, theirs: string, what: string): number {
  const a = ours.split("\n");
  const b = theirs.split("\n");
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      throw new Error(
        `${what}: line ${i + 1} differs\n  luajit: ${JSON.stringify(b[i])}\n  ours:   ${
          JSON.stringify(a[i])
        }`,
      );
    }
  }
  return b.length - (b[b.length - 1] === "" ? 1 : 0);
}
