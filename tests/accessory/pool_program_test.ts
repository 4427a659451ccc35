// The pool program (issue 12): its bytes against its source, its ELF image,
// and (root) the program itself driven through the daemon's PoolFactory:
// inits, user namespace helpers, bad requests, end of file, a kernel limit.
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { EventLoop } from "../../ffi/event_loop.ts";
import { closeQuietly, fstat, pipe, read } from "../../ffi/fd.ts";
import { openNamespace } from "../../ffi/namespace.ts";
import { SOCK_SEQPACKET, unixSocketPair } from "../../ffi/socket.ts";
import { MessageReceiver, MessageSender } from "../../ffi/socket_message.ts";
import { reap, spawnProcess } from "../../ffi/spawn.ts";
import {
  getrlimit,
  pidfdOpen,
  pidfdSendSignal,
  RLIMIT_NOFILE,
  setrlimit,
  SIGNALS,
} from "../../ffi/process.ts";
import { sealedMemfd } from "../../ffi/memfd.ts";
import {
  elfExecutable,
  FACTORY_COMM,
  initEnvironment,
  initNaming,
  NAME_FILLER,
  POOL_INIT_COMM,
  POOL_PROGRAM_EXE,
  poolProgramCode,
  poolProgramImage,
  USER_HELPER_COMM,
} from "../../accessory/pool_program.ts";
import { PoolFactory } from "../../accessory/pool_factory.ts";
import { PooledInit } from "../../accessory/pooled_init.ts";
import { alive, childrenOf, comm, readProc, sleep, waitFor } from "./harness.ts";

const SOURCE = new URL("../../accessory/pool_program_x86_64.s", import.meta.url).pathname;
const image = poolProgramImage("x86_64")!;
const onThisMachine = poolProgramImage() !== null;

/** `which` without a shell. */
function which(program: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      Deno.statSync(`${dir}/${program}`);
      return `${dir}/${program}`;
    } catch {
      // not here
    }
  }
  return null;
}

Deno.test("the pool program's bytes are its source, assembled (GNU as and llvm-mc agree)", async () => {
  const assemblers = [
    which("as") && ["as", "-o"],
    which("llvm-mc") && ["llvm-mc", "-triple=x86_64-linux-gnu", "-filetype=obj", "-o"],
  ].filter((a): a is string[] => !!a);
  // .ci/bootstrap --test installs binutils: the check must not quietly vanish.
  assert(assemblers.length > 0, "no assembler (binutils) installed");
  const dir = Deno.makeTempDirSync();
  try {
    for (const [tool, ...args] of assemblers) {
      const object = `${dir}/${tool}.o`;
      const out = await new Deno.Command(tool, { args: [...args, object, SOURCE] }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      const copy = await new Deno.Command("objcopy", {
        args: ["-O", "binary", "--only-section=.text", object, `${dir}/${tool}.bin`],
      }).output();
      assertEquals(copy.code, 0, new TextDecoder().decode(copy.stderr));
      assertEquals(Deno.readFileSync(`${dir}/${tool}.bin`), poolProgramCode("x86_64"), tool);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the pool program's image: a static ELF64 executable entered at its code", () => {
  const code = poolProgramCode("x86_64")!;
  const v = new DataView(image.buffer);
  assertEquals([...image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assertEquals(v.getUint16(16, true), 2, "ET_EXEC");
  assertEquals(v.getUint16(18, true), 62, "x86-64");
  assertEquals(v.getUint16(56, true), 2, "two program headers");
  const offset = Number(v.getBigUint64(24, true) - 0x400000n);
  assertEquals(image.subarray(offset), code);
  assertEquals(Number(v.getBigUint64(64 + 32, true)), image.length, "one segment maps it all");
  assertEquals(v.getUint32(64 + 56, true), 0x6474e551, "PT_GNU_STACK");
  assertEquals(v.getUint32(64 + 56 + 4, true) & 1, 0, "stack not executable");
  assertEquals(poolProgramImage("riscv64"), null, "no program: the perl factory");
  assertEquals(elfExecutable(62, new Uint8Array([0xc3])).length, 64 + 2 * 56 + 1);
});

Deno.test("the pool program's messages: the NAME placeholder and the naming write", () => {
  const env = initEnvironment("@a @b", 5);
  assertEquals(env[0], "CM4ALL_SPAWN_ACCESSORY=@a @b");
  assertEquals(env[1], `CM4ALL_SPAWN_NAME=${NAME_FILLER.repeat(5)}`);
  assertEquals(initEnvironment("@a", 0)[1].length, "CM4ALL_SPAWN_NAME=".length + 1);
  const naming = initNaming("init-web", "web");
  assertEquals(naming.length, 16 + 3);
  assertEquals(new TextDecoder().decode(naming.subarray(0, 8)), "init-web");
  assertEquals([...naming.subarray(8, 16)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assertEquals(new TextDecoder().decode(naming.subarray(16)), "web");
  assertEquals(initNaming("i-0123456789abcdefgh", "x").subarray(15, 16)[0], 0, "comm cut to 15");
});

/** A PoolFactory on its own event loop, for one test. */
async function withFactory(fn: (factory: PoolFactory, loop: EventLoop) => Promise<void>) {
  const loop = new EventLoop();
  const running = loop.run();
  const factory = new PoolFactory(loop, image, "@pool-program-test", 16);
  try {
    await fn(factory, loop);
  } finally {
    await factory.close();
    await loop.close();
    await running;
  }
}

function environOf(pid: number): string {
  return new TextDecoder("latin1").decode(Deno.readFileSync(`/proc/${pid}/environ`));
}

/** SIGKILL to our child `pid` (an init: CLONE_PARENT made it ours), and reaps it. */
function killAndReap(pid: number): void {
  let pidfd: number;
  try {
    pidfd = pidfdOpen(pid);
  } catch {
    return; // gone and reaped
  }
  try {
    pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
    reap(pidfd, true);
  } finally {
    closeQuietly(pidfd);
  }
}

Deno.test({
  name:
    "pool program: an init is PID 1 of new namespaces, names itself on one write, keeps nothing",
  ignore: !onThisMachine,
  fn: () =>
    withFactory(async (factory) => {
      factory.start();
      const program = [...childrenOf(Deno.pid)].find(([, c]) => c === FACTORY_COMM)?.[0];
      assert(program !== undefined, "the program is our child");
      assertEquals(Deno.readLinkSync(`/proc/${program}/exe`), POOL_PROGRAM_EXE);
      const started = await factory.init(null);
      const { pid } = started;
      try {
        assert(childrenOf(Deno.pid).has(pid), "the init is the daemon's child (CLONE_PARENT)");
        assert(await waitFor(() => comm(pid) === POOL_INIT_COMM));
        const nspid = readProc(`/proc/${pid}/status`)!.match(/NSpid:\s+(.*)/)![1].split(/\s+/);
        assertEquals(nspid[nspid.length - 1], "1");
        for (const kind of ["pid", "ipc"] as const) {
          const theirs = openNamespace(pid, kind);
          const ours = openNamespace("self", kind);
          try {
            assert(fstat(theirs).ino !== fstat(ours).ino, `a new ${kind} namespace`);
          } finally {
            closeQuietly(theirs);
            closeQuietly(ours);
          }
        }
        assert(
          environOf(pid).endsWith(`CM4ALL_SPAWN_NAME=${"\x01".repeat(16)}\0`),
          "the NAME placeholder, still filler",
        );
        Deno.writeFileSync(`/proc/self/fd/${started.command}`, initNaming("init-web/1", "web/1"));
        closeQuietly(started.command);
        const ack = new Uint8Array(4);
        assert(await waitFor(() => (read(started.ack, ack) ?? 0) > 0), "no ack");
        assertEquals(ack[0], 0x2e);
        assertEquals(comm(pid), "init-web/1");
        assertEquals(
          environOf(pid),
          "CM4ALL_SPAWN_ACCESSORY=@pool-program-test\0CM4ALL_SPAWN_NAME=web/1" +
            "\0".repeat(11) + "\0",
        );
        // Its pipes are closed once named: end of file, and only /dev/null left.
        assert(await waitFor(() => read(started.ack, ack) === 0));
        const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => [
          Number(e.name),
          Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`),
        ]);
        assertEquals(fds, [[2, "/dev/null"]]);
        // Signals other than SIGKILL do not end it (PID 1, no handlers).
        for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1"] as const) {
          Deno.kill(pid, signal);
        }
        await sleep(100);
        assert(alive(pid), "an init died of a signal it has no handler for");
        const rss = Number(readProc(`/proc/${pid}/status`)!.match(/VmRSS:\s+(\d+)/)![1]);
        assert(rss <= 64, `init RSS ${rss} kB`);
      } finally {
        closeQuietly(started.ack);
        killAndReap(pid);
      }
    }),
});

Deno.test({
  name:
    "pool program: a naming holds the event loop's turns until the init answers or is dismissed",
  ignore: !onThisMachine,
  fn: () =>
    withFactory(async (factory, loop) => {
      const named = PooledInit.start(loop, factory);
      const dismissed = PooledInit.start(loop, factory);
      await Promise.all([named.ready, dismissed.ready]);
      const exits: number[] = [];
      const becoming = named.become("web/3", (ns) => exits.push(ns.pid));
      assertEquals(loop.turnsHeld, 1, "held while the init has not answered");
      const namespace = await becoming;
      assertEquals(loop.turnsHeld, 0, "released once it answered");
      const failing = dismissed.become("web/4", () => {});
      assertEquals(loop.turnsHeld, 1);
      dismissed.dismiss();
      await assertRejects(() => failing);
      assertEquals(loop.turnsHeld, 0, "released when the naming failed");
      await dismissed.gone();
      namespace.kill();
      await namespace.exited;
      assertEquals(exits, [namespace.pid]);
    }),
});

Deno.test({
  name: "pool program: an unnamed init ends on end of file; one joins the IPC namespace given",
  ignore: !onThisMachine,
  fn: () =>
    withFactory(async (factory) => {
      const first = await factory.init(null);
      const ipc = openNamespace(first.pid, "ipc");
      const second = await factory.init(ipc);
      try {
        const joined = openNamespace(second.pid, "ipc");
        // setns happens in the init: wait until it has taken its pool name.
        assert(await waitFor(() => comm(second.pid) === POOL_INIT_COMM));
        closeQuietly(joined);
        const again = openNamespace(second.pid, "ipc");
        assertEquals(fstat(again).ino, fstat(ipc).ino, "joined the given IPC namespace");
        closeQuietly(again);
        // The daemon dismisses (or dies): end of file on the command pipe.
        closeQuietly(first.command);
        assert(await waitFor(() => read(first.ack, new Uint8Array(1)) === 0), "it did not exit");
      } finally {
        for (const s of [first, second]) {
          closeQuietly(s.command);
          closeQuietly(s.ack);
          killAndReap(s.pid);
        }
        closeQuietly(ipc);
      }
    }),
});

Deno.test({
  name:
    "pool program: signals from outside do not end it; helpers die with it; it ends on end of file",
  ignore: !onThisMachine,
  fn: async () => {
    let program = 0;
    let helper = 0;
    await withFactory(async (factory) => {
      ({ pid: helper } = await factory.userHelper());
      program = [...childrenOf(Deno.pid)].find(([, c]) => c === FACTORY_COMM)![0];
      // A terminal's ^C or `systemctl kill` reaches the whole group: only the
      // daemon ends the program (end of file), so that it can stop in order.
      for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"] as const) {
        Deno.kill(program, signal);
      }
      await sleep(100);
      assert(alive(program), "the program died of a signal");
      const again = await factory.userHelper();
      assert(again.pid > 0, "the program serves on");
      Deno.kill(again.pid, "SIGKILL");
      assert(childrenOf(program).has(helper), "the helper is the program's child");
      assert(await waitFor(() => comm(helper) === USER_HELPER_COMM));
      const theirs = openNamespace(helper, "user");
      const ours = openNamespace("self", "user");
      assert(fstat(theirs).ino !== fstat(ours).ino, "a new user namespace");
      closeQuietly(theirs);
      closeQuietly(ours);
    });
    // close(): end of file for the program; its helper follows (PR_SET_PDEATHSIG).
    assert(await waitFor(() => !alive(program)), "the program outlived its socket");
    assert(await waitFor(() => !alive(helper)), "the helper outlived the program");
  },
});

Deno.test({
  name: "pool program: a bad request gets -EINVAL and the program keeps serving",
  ignore: !onThisMachine,
  fn: () => {
    const memfd = sealedMemfd("pool-program-test", image);
    const [ours, theirs] = unixSocketPair(SOCK_SEQPACKET, false);
    const pid = spawnProcess(`/proc/${Deno.pid}/fd/${memfd}`, {
      argv: ["pool-program-test"],
      env: initEnvironment("@t", 8),
      fds: { 0: theirs },
    });
    closeQuietly(theirs);
    const sender = new MessageSender(3);
    const receiver = new MessageReceiver(0);
    const answer = new Uint8Array(8);
    const ask = (kind: string, fds: number[] = []) => {
      sender.send(ours, new TextEncoder().encode(kind), fds, 0);
      const m = receiver.receive(ours, answer, 0)!;
      assertEquals(m.length, 4);
      return new DataView(answer.buffer).getInt32(0, true);
    };
    try {
      assertEquals(ask("x"), -22, "unknown kind");
      assertEquals(ask("p"), -22, "an init without its pipes");
      const [r, w] = pipe();
      assertEquals(ask("p", [r]), -22, "an init with one pipe end");
      closeQuietly(r);
      closeQuietly(w);
      const helper = ask("u");
      assert(helper > 0, `still serving: ${helper}`);
      Deno.kill(helper, "SIGKILL");
    } finally {
      closeQuietly(ours); // end of file: it exits
      const pidfd = pidfdOpen(pid);
      assert(reap(pidfd, true) !== null, "the program did not exit on end of file");
      closeQuietly(pidfd);
      closeQuietly(memfd);
    }
  },
});

Deno.test({
  name: "pool program: out of fds, a request fails with the errno and the next one is served",
  ignore: !onThisMachine,
  fn: () =>
    withFactory(async (factory) => {
      factory.start();
      // The lowest free fd is the limit: the pipes for an init cannot be made.
      const probe = pipe();
      closeQuietly(probe[0]);
      closeQuietly(probe[1]);
      const before = getrlimit(RLIMIT_NOFILE);
      setrlimit(RLIMIT_NOFILE, { soft: BigInt(probe[0]), hard: before.hard });
      try {
        await assertRejects(() => factory.init(null), "Too many open files");
      } finally {
        setrlimit(RLIMIT_NOFILE, before);
      }
      const again = await factory.init(null);
      closeQuietly(again.command);
      closeQuietly(again.ack);
      killAndReap(again.pid);
    }),
});
