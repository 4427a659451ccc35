// A log line that cannot be written (stderr is a pipe nobody reads any more)
// is lost, never thrown: a daemon shutting down must still end what it made.
import { assertEquals } from "../assert.ts";

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
const LOG = new URL("../../shared/log.ts", import.meta.url).href;

Deno.test("log: a closed stderr pipe loses the line and does not throw", async () => {
  const script = `
    import { logError, logInfo } from ${JSON.stringify(LOG)};
    await new Promise((r) => setTimeout(r, 300)); // the reader is gone by now
    for (let i = 0; i < 3; i++) { logInfo("lost " + i); logError("lost too"); }
    console.log("survived");
  `;
  const child = new Deno.Command(DENO, {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stderr.cancel(); // closes our read end: writes to it fail with EPIPE
  const { code, stdout } = await child.output();
  assertEquals(new TextDecoder().decode(stdout).trim(), "survived");
  assertEquals(code, 0);
});
