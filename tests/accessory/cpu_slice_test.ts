// Integration (root): --cpu-slice. The daemon asks for a time slice (EEVDF
// custom slice), and everything it starts inherits it: the pool program or
// perl factory, prepared inits, named inits, user namespace helpers. Its nice
// value (set by the admin, here through nice(1)) stays. Without the option,
// the kernel's default.
import { assert, assertEquals, assertNotEquals } from "../assert.ts";
import { closeNamespaces, makeNamespaces } from "../../shared/client.ts";
import { getSchedAttr, SCHED_FLAG_RESET_ON_FORK } from "../../ffi/sched_attr.ts";
import {
  childrenOf,
  Daemon,
  initOf,
  kernelTakesCustomSlices,
  PERL_FACTORY,
  waitFor,
} from "./harness.ts";

const SUPPORTED = kernelTakesCustomSlices();

/** The daemon and every process below it, as pid -> comm. */
function tree(pid: number): Map<number, string> {
  const all = new Map<number, string>([[pid, "daemon"]]);
  for (const [child, comm] of childrenOf(pid)) {
    for (const [p, c] of tree(child)) all.set(p, p === child ? comm : c);
  }
  return all;
}

for (const perl of [false, true]) {
  Deno.test({
    name: `--cpu-slice 100 (${
      perl ? "perl factory" : "pool program"
    }): the daemon and all it starts ask for it, and keep their nice value`,
    ignore: !SUPPORTED,
    async fn() {
      const d = await Daemon.start(["--cpu-slice", "100"], perl ? PERL_FACTORY : {}, [
        "nice",
        "-n",
        "5",
      ]);
      let ns;
      try {
        ns = makeNamespaces("sliced", {
          socket: d.address,
          ipc: true,
          pid: true,
          uidMap: "0 0 1\n",
        });
        const init = initOf(ns.pid!, d.children().keys());
        assert(init !== null, "no init for the name");
        // The pool refills in the background: wait until it has something of each kind.
        assert(await waitFor(() => tree(d.pid).size >= 4), "nothing started below the daemon");
        const processes = tree(d.pid);
        assert(processes.has(init));
        for (const [pid, comm] of processes) {
          const attr = getSchedAttr(pid);
          assertEquals(attr.runtime, 100_000n, `slice of ${comm} (${pid})`);
          assertEquals(attr.nice, 5, `nice value of ${comm} (${pid})`);
        }
      } finally {
        if (ns) closeNamespaces(ns);
        const { code } = await d.stop();
        assertEquals(code, 0);
      }
    },
  });
}

Deno.test({
  name: "--cpu-slice 2000 asks for 2 ms; without it (or with 0) the kernel's default",
  ignore: !SUPPORTED,
  async fn() {
    const ours = getSchedAttr(Deno.pid).runtime; // this test runs with the default
    assertNotEquals(ours, 2_000_000n);
    const runs: [string[], bigint][] = [
      [["--cpu-slice", "2000"], 2_000_000n],
      [["--cpu-slice", "0"], ours],
      [[], ours],
    ];
    for (const [args, expected] of runs) {
      const d = await Daemon.start(args);
      try {
        const ns = makeNamespaces(`slice-${args.join("")}`, { socket: d.address, pid: true });
        const init = initOf(ns.pid!, d.children().keys());
        closeNamespaces(ns);
        assert(init !== null);
        assertEquals(getSchedAttr(d.pid).runtime, expected, `daemon, ${args.join(" ")}`);
        assertEquals(getSchedAttr(init).runtime, expected, `init, ${args.join(" ")}`);
      } finally {
        await d.stop();
      }
    }
  },
});

Deno.test({
  name: "--cpu-slice keeps a reset-on-fork the admin set (systemd's CPUSchedulingResetOnFork=)",
  ignore: !SUPPORTED,
  async fn() {
    const d = await Daemon.start(["--cpu-slice", "100"], {}, [
      "chrt",
      "--reset-on-fork",
      "--other",
      "0",
    ]);
    try {
      const attr = getSchedAttr(d.pid);
      assertEquals(attr.runtime, 100_000n);
      assertEquals(attr.flags & SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RESET_ON_FORK);
    } finally {
      await d.stop();
    }
  },
});
