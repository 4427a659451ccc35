// deno task compile: needs a denort runtime (DENORT_BIN) and says so.
import { assertEquals, assertMatch } from "../assert.ts";
import { run } from "./dist_fixture.ts";

const COMPILE = new URL("../../packaging/compile.ts", import.meta.url).pathname;

function compile(args: string[], denort?: string) {
  const env: Record<string, string> = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  if (denort !== undefined) env.DENORT_BIN = denort;
  for (const key of ["HOME", "DENO_DIR"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  return run([Deno.execPath(), "run", "-A", COMPILE, ...args], { env });
}

Deno.test("without DENORT_BIN compile explains why it cannot build and exits 1", async () => {
  const out = await compile([]);
  assertEquals(out.code, 1);
  assertMatch(out.stderr, /^cm4all-spawn-compile: DENORT_BIN is not set: .*denort.*dl\.deno\.land/);
  assertEquals(out.stderr.split("\n").length, 2, "one line");
});

Deno.test("a DENORT_BIN that is missing or is not a denort runtime is named", async () => {
  const missing = await compile([], "/nonexistent/denort");
  assertEquals([missing.code, missing.stderr], [
    1,
    "cm4all-spawn-compile: DENORT_BIN=/nonexistent/denort: No such file\n",
  ]);
  // The full deno binary ignores an embedded program: compile must notice.
  const dir = Deno.makeTempDirSync({ prefix: "compile-test-" });
  try {
    const fullDeno = Deno.realPathSync(Deno.execPath());
    const out = await compile(["--output-dir", dir, "cm4all-spawn-netns"], fullDeno);
    assertEquals(out.code, 1, out.stderr);
    assertMatch(out.stderr, /is not a denort runtime: cm4all-spawn-netns --version printed 'deno /);
    assertEquals([...Deno.readDirSync(dir)], [], "the useless executable was left behind");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compile rejects unknown program names as a usage error", async () => {
  const out = await compile(["cm4all-spawn-nothing"], "/nonexistent/denort");
  assertEquals(out.code, 2);
  assertEquals(out.stderr, "cm4all-spawn-compile: unknown program 'cm4all-spawn-nothing'\n");
});
