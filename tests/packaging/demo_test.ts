// deno task demo runs through and leaves nothing behind.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { findCgroup2Root } from "../../reaper/cgroup/root.ts";

Deno.test("the demo exits 0, shows namespaces and reaped cgroups, and cleans up", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../packaging/demo.ts", import.meta.url).pathname],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, text);
  assertMatch(text, /^\[shell\] my pid: [2-9]$/m);
  assertMatch(text, /^\[shell\] +1 init-demo\d+$/m);
  assertMatch(text, /^\[reaper\] job-1: .*cpu=/m);
  // The shipped example script's line for it.
  assertMatch(text, /^\[reaper\] released \/cm4all-spawn-demo-\d+\.scope\/job-1 account=\S+ /m);
  assertMatch(text, /^ {3}job-2 is gone$/m);
  const socket = /socket (@cm4all-spawn-demo-\d+)/.exec(text)![1];
  const scope = /scope (\/cm4all-spawn-demo-\d+\.scope)/.exec(text)![1];
  const root = findCgroup2Root()!;
  let scopeLeft = true;
  try {
    Deno.statSync(`${root}${scope}`);
  } catch {
    scopeLeft = false;
  }
  assert(!scopeLeft, `${scope} left behind`);
  const pid = /demo-(\d+)/.exec(socket)![1];
  const inits = await new Deno.Command("pgrep", { args: ["-f", `init-(demo|other)${pid}`] })
    .output();
  assertEquals(new TextDecoder().decode(inits.stdout), "", "namespace inits left behind");
  const sockets = Deno.readTextFileSync("/proc/net/unix");
  assert(!sockets.includes(socket.slice(1)), `${socket} still bound`);
});
