// The real stdout of a script run: file:seek and file:setvbuf
// (reaper/lua/luajit_io.ts): a pipe cannot seek (LuaJIT: nil, "Illegal
// seek", 29), a file can, and print goes on at the offset seek left; print
// to a pipe nobody reads (reaper/lua/print.ts).
import { assertEquals } from "../assert.ts";

const RUNNER = new URL("./lua_file_runner.ts", import.meta.url).pathname;
const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;

/** Runs `run` with the script written to DIR/s.lua in a temporary DIR. */
async function withScript<T>(script: string, run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/s.lua`, script);
    return await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function runTo(script: string, stdout: "pipe" | "file"): Promise<string> {
  return withScript(script, async (dir) => {
    const redirect = stdout === "file" ? `> '${dir}/out'` : "";
    const { code, stdout: piped, stderr } = await new Deno.Command("sh", {
      args: ["-c", `'${DENO}' run -A '${RUNNER}' '${dir}/s.lua' ${redirect}`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    return stdout === "file"
      ? await Deno.readTextFile(`${dir}/out`)
      : new TextDecoder().decode(piped);
  });
}

Deno.test("io.stdout:seek on a pipe: nil, Illegal seek, 29; setvbuf answers true", async () => {
  const out = await runTo(`print(io.stdout:seek("cur")) print(io.stdout:setvbuf("no"))`, "pipe");
  assertEquals(out, "nil\tIllegal seek\t29\ntrue\n");
});

Deno.test("io.stdout:seek on a file: offsets of set, cur and end", async () => {
  const out = await runTo(
    `io.write("abcdef")
     local cur = io.stdout:seek()
     local set = io.stdout:seek("set", 2)
     local over = io.stdout:seek("cur", 1.9)
     local last = io.stdout:seek("end")
     print(cur, set, over, last)`,
    "file",
  );
  assertEquals(out, "abcdef6\t2\t3\t6\n");
});

Deno.test("print and io.write to a stdout nobody reads (EPIPE) lose the text and the script goes on, as in LuaJIT", async () => {
  const script = `for i = 1, 3 do print("line", i) end
    io.stderr:write("after prints\\n")
    io.stderr:write(tostring(io.write("lost\\n")), " ", tostring(io.stdout:write("lost")), "\\n")
    function cgroup_released() end`;
  const MAIN = new URL("../../reaper/main.ts", import.meta.url).pathname;
  await withScript(script, async (dir) => {
    // `true` exits at once, long before the daemon's start-up reaches print.
    const { code, stderr } = await new Deno.Command("bash", {
      args: ["-c", `set -o pipefail; '${DENO}' run -A '${MAIN}' --check-lua '${dir}/s.lua' | true`],
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    assertEquals([code, text], [0, "after prints\ntrue true\n"]);
  });
});
