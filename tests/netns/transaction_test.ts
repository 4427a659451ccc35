import { assertEquals } from "../assert.ts";
import { formatCommand, upPlan } from "../../netns/plan.ts";
import { type Execute, runAllOrNothing } from "../../netns/transaction.ts";

/** A fake runner that fails the command whose text contains `failOn`. */
function recorder(failOn?: string) {
  const ran: string[] = [];
  const execute: Execute = (argv) => {
    const text = argv.join(" ");
    ran.push(text);
    return Promise.resolve(failOn && text.includes(failOn) ? `${text}: boom` : undefined);
  };
  return { ran, execute };
}

Deno.test("up runs the documented ip commands in order, the setup script last", async () => {
  const { ran, execute } = recorder();
  const outcome = await runAllOrNothing(upPlan("web", "/etc/setup.d/web"), execute);
  assertEquals(outcome, { undone: 0, undoErrors: [] });
  assertEquals(ran, [
    "ip netns add web",
    "ip link add web type veth peer name web_peer",
    "ip link set web_peer netns web",
    "ip -n web link set web_peer name net0",
    "ip -n web link set net0 up",
    "ip netns exec web /etc/setup.d/web net0",
  ]);
});

Deno.test("a failing setup script undoes the link, then the namespace", async () => {
  const { ran, execute } = recorder("/etc/setup.d/web");
  const outcome = await runAllOrNothing(upPlan("web", "/etc/setup.d/web"), execute);
  assertEquals(outcome.error, "ip netns exec web /etc/setup.d/web net0: boom");
  assertEquals(outcome.undone, 2);
  assertEquals(ran.slice(-2), ["ip link delete web", "ip netns delete web"]);
});

Deno.test("a failing first step undoes nothing (an existing namespace is not ours)", async () => {
  const { ran, execute } = recorder("netns add");
  const outcome = await runAllOrNothing(upPlan("web", "/s/web"), execute);
  assertEquals(outcome.undone, 0);
  assertEquals(ran, ["ip netns add web"]);
});

Deno.test("a failing link creation undoes only the namespace", async () => {
  const { ran, execute } = recorder("type veth");
  const outcome = await runAllOrNothing(upPlan("web", "/s/web"), execute);
  assertEquals(ran.slice(2), ["ip netns delete web"]);
  assertEquals(outcome.undone, 1);
});

Deno.test("undo failures are reported, and every undo is still tried", async () => {
  const ran: string[] = [];
  const execute: Execute = (argv) => {
    const text = argv.join(" ");
    ran.push(text);
    const fails = text.includes("net0 up") || text.includes("link delete");
    return Promise.resolve(fails ? `${text}: nope` : undefined);
  };
  const outcome = await runAllOrNothing(upPlan("web", "/s/web"), execute);
  assertEquals(outcome.error, "ip -n web link set net0 up: nope");
  assertEquals(outcome.undoErrors, ["ip link delete web: nope"]);
  assertEquals(ran.at(-1), "ip netns delete web");
});

Deno.test("an aborted run stops before the next step and undoes", async () => {
  const controller = new AbortController();
  const ran: string[] = [];
  const execute: Execute = (argv) => {
    ran.push(argv.join(" "));
    if (ran.length === 2) controller.abort("interrupted by SIGTERM");
    return Promise.resolve(undefined);
  };
  const outcome = await runAllOrNothing(upPlan("web", "/s/web"), execute, controller.signal);
  assertEquals(outcome.error, "interrupted by SIGTERM");
  assertEquals(ran.slice(2), ["ip link delete web", "ip netns delete web"]);
});

Deno.test("formatCommand quotes what a shell would split", () => {
  assertEquals(
    formatCommand(["ip", "netns", "exec", "a", "/x y/it's"]),
    `ip netns exec a '/x y/it'\\''s'`,
  );
});
