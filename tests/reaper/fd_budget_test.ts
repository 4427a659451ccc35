// The tracker's fd budget (reaper/cgroup/fd_budget.ts): the soft limit minus a reserve.
import { assert, assertEquals } from "../assert.ts";
import { FdBudget, parseOpenFilesLimit, reserveFor } from "../../reaper/cgroup/fd_budget.ts";

const limits = (soft: string) =>
  `Limit                     Soft Limit           Hard Limit           Units     \n` +
  `Max open files            ${soft.padEnd(21)}20000                files     \n`;

Deno.test("the soft open-files limit is read from /proc/self/limits", () => {
  assertEquals(parseOpenFilesLimit(limits("1024")), 1024);
  assertEquals(parseOpenFilesLimit(limits("unlimited")), Number.MAX_SAFE_INTEGER);
  assertEquals(parseOpenFilesLimit("nothing"), null);
});

Deno.test("the budget keeps a reserve and notices a raised limit", async () => {
  let soft = "200";
  const budget = new FdBudget(() => limits(soft));
  assertEquals(reserveFor(200), 50);
  budget.held = 149;
  assert(budget.allows());
  budget.held = 150;
  assert(!budget.allows(), "the last 50 fds are for the rest of the process");
  soft = "2000";
  assert(!budget.allows(), "read again at most once a second");
  await new Promise((r) => setTimeout(r, 1010));
  assert(budget.allows(), "a raised limit is noticed");
  assertEquals(budget.limit, 2000);
});
