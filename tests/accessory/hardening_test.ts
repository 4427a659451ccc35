// Integration (root): peer credentials, limits, fd hygiene of the daemon and
// its children, truncated ancillary data (issue 7).
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  AccessoryConnection,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  type Namespaces,
  ServerError,
} from "../../shared/client.ts";
import { closeQuietly, pipe } from "../../ffi/fd.ts";
import { MessageReceiver, MSG_NOSIGNAL, sendMessage } from "../../ffi/socket_message.ts";
import { encodeRequest } from "../../shared/protocol.ts";
import { Daemon, readProc, sleep, waitFor } from "./harness.ts";

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
const PEER_CLIENT = new URL("./peer_client.ts", import.meta.url).pathname;

async function withDaemon(
  args: string[],
  fn: (d: Daemon) => Promise<void> | void,
  check: (log: string) => void = () => {},
) {
  const daemon = await Daemon.start(args);
  try {
    await fn(daemon);
  } finally {
    const { code, log } = await daemon.stop();
    assertEquals(code, 0, `daemon exit status; log:\n${log}`);
    check(log);
  }
}

/** Runs peer_client.ts as uid/gid (no supplementary groups); its JSON lines. */
async function asUser(uid: number, gid: number, address: string, name: string, count = 1) {
  const denoDir = Deno.makeTempDirSync({ prefix: "h9-deno-dir-" });
  try {
    Deno.chownSync(denoDir, uid, gid);
    const out = await new Deno.Command("setpriv", {
      args: [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--clear-groups",
        DENO,
        "run",
        "-A",
        PEER_CLIENT,
        address,
        name,
        String(count),
      ],
      cwd: "/",
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, `peer client failed: ${stderr}`);
    return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      JSON.parse(l) as { fds?: number; error?: string }
    );
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
}

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** fd -> readlink target of a process's fds. */
function fdsOf(pid: number): Map<number, string> {
  const result = new Map<number, string>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      result.set(Number(e.name), Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
    } catch {
      // closed meanwhile
    }
  }
  return result;
}

Deno.test("only uid 0 may request namespaces by default; refusals are ERRORs, logged rate-limited", async () => {
  await withDaemon([], async (d) => {
    const results = await asUser(65534, 65534, d.address, "refused", 30);
    assertEquals(results.length, 30);
    for (const r of results) {
      assertEquals(r.error, "Permission denied: uid 65534 may not request namespaces");
    }
    assertEquals(d.inits().size, 0);
    // Root still gets its namespaces.
    const ns = makeNamespaces("root-ok", { socket: d.address, ipc: true });
    assert(ns.ipc !== undefined);
    closeNamespaces(ns);
  }, (log) => {
    const lines = log.split("\n").filter((l) => l.includes('refused "refused"'));
    assert(lines.length >= 1 && lines.length <= 3, `rate-limited refusal log:\n${log}`);
    assertMatch(lines[0], /to pid \d+ uid 65534 gid 65534: Permission denied/);
  });
});

Deno.test("--allow-uid and --allow-gid widen who may request namespaces", async () => {
  await withDaemon(["--allow-uid", "65534", "--allow-gid", "65531"], async (d) => {
    assertEquals(await asUser(65534, 65534, d.address, "by-uid"), [{ fds: 1 }]);
    assertEquals(await asUser(65533, 65531, d.address, "by-gid"), [{ fds: 1 }]);
    assertEquals(await asUser(65533, 65533, d.address, "neither"), [{
      error: "Permission denied: uid 65533 may not request namespaces",
    }]);
  });
});

/** The ERROR message of a request, or "ok". */
function outcome(address: string, name: string, options: Parameters<typeof makeNamespaces>[1]) {
  try {
    closeNamespaces(makeNamespaces(name, { socket: address, ...options }));
    return "ok";
  } catch (e) {
    if (e instanceof ServerError) return e.message;
    throw e;
  }
}

Deno.test("limits: NAME length, live names, user namespaces per name, map size and lines", async () => {
  await withDaemon(["--max-names", "3", "--max-user-namespaces", "2"], (d) => {
    const a = d.address;
    assertEquals(outcome(a, "n".repeat(255), { ipc: true }), "ok");
    assertEquals(
      outcome(a, "n".repeat(256), { ipc: true }),
      "NAME too long: 256 bytes (limit 255)",
    );
    assertEquals(outcome(a, "second", {}), "ok");
    assertEquals(outcome(a, "third", {}), "ok");
    assertEquals(outcome(a, "fourth", {}), "Too many names: 3 live (limit 3)");
    assertEquals(outcome(a, "third", { ipc: true }), "ok", "existing names are still served");

    const u = (uidMap: string) => ({ uidMap });
    assertEquals(outcome(a, "third", u("0 0 1\n")), "ok");
    assertEquals(outcome(a, "third", u("0 1 1\n")), "ok");
    assertEquals(
      outcome(a, "third", u("0 2 1\n")),
      'Too many user namespaces for "third": 2 (limit 2)',
    );
    assertEquals(
      outcome(a, "third", u("0 0 1\n")),
      "ok",
      "a cached user namespace is still served",
    );

    const lines = Array.from({ length: 341 }, (_, i) => `${i} ${i} 1\n`).join("");
    assertEquals(
      outcome(a, "second", u(lines)),
      "uid_map has too many lines: 341 (limit 340)",
    );
    assertEquals(
      outcome(a, "second", u("0 0 1" + " ".repeat(5000))),
      "uid_map too large: 5005 bytes (limit 4096)",
    );
    assertEquals(d.inits().size, 0);
  });
});

Deno.test("limits: beyond --max-connections new connections are closed, logged once", async () => {
  const held: AccessoryConnection[] = [];
  await withDaemon(["--max-connections", "3"], async (d) => {
    for (let i = 0; i < 3; i++) held.push(new AccessoryConnection(d.address, 5000));
    assert(await waitFor(() => fdCount(d.pid) > 0));
    const request = namespaceRequest("c", { ipc: true });
    for (const c of held) closeNamespaces(c.request(request));
    for (let i = 0; i < 5; i++) {
      const extra = new AccessoryConnection(d.address, 5000);
      try {
        let error = "";
        try {
          extra.send(request); // EPIPE if the daemon closed it already
          extra.receive(request);
        } catch (e) {
          error = (e as Error).message;
        }
        assertMatch(error, /closed the connection without a response|ECONNRESET|EPIPE/);
      } finally {
        extra.close();
      }
    }
    held.pop()!.close();
    await sleep(100);
    const again = new AccessoryConnection(d.address, 5000);
    try {
      closeNamespaces(again.request(request));
    } finally {
      again.close();
    }
  }, (log) => {
    const lines = log.split("\n").filter((l) => l.includes("connections open (limit 3)"));
    assert(lines.length >= 1 && lines.length <= 2, `rate-limited overflow log:\n${log}`);
  });
  for (const c of held) c.close();
});

Deno.test("every fd of the daemon is close-on-exec; the init has only /dev/null on 0, 1, 2", async () => {
  await withDaemon([], (d) => {
    const ns = makeNamespaces("cloexec", { socket: d.address, ipc: true, pid: true, lease: true });
    try {
      for (const [fd, target] of fdsOf(d.pid)) {
        if (fd <= 2) continue;
        const info = readProc(`/proc/${d.pid}/fdinfo/${fd}`);
        if (info === null) continue;
        const flags = parseInt(/flags:\s+(\d+)/.exec(info)![1], 8);
        assert(flags & 0o2000000, `daemon fd ${fd} (${target}) lacks O_CLOEXEC`);
      }
      const [init] = d.inits().keys();
      assertEquals(
        [...fdsOf(init)].sort((a, b) => a[0] - b[0]),
        [[0, "/dev/null"], [1, "/dev/null"], [2, "/dev/null"]],
      );
    } finally {
      closeNamespaces(ns);
    }
  });
});

/** Children of `pid` from /proc/PID/task/TID/children (cheap enough to poll). */
function childPids(pid: number): number[] {
  const result: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = readProc(`/proc/${pid}/task/${task.name}/children`) ?? "";
    for (const p of text.trim().split(/\s+/)) if (p) result.push(Number(p));
  }
  return result;
}

Deno.test("the namespace factory and what it makes hold only pipes and /dev/null", async () => {
  await withDaemon([], async (d) => {
    const c = new AccessoryConnection(d.address, 15_000);
    const requests = Array.from(
      { length: 40 },
      (_, i) => namespaceRequest(`helper-${i}`, { pid: true, uidMap: `0 ${i} 1\n` }),
    );
    const seen = new Map<number, Map<number, string>>();
    try {
      for (const r of requests) c.send(r);
      const end = performance.now() + 10_000;
      while (performance.now() < end && seen.size < 3) {
        // The factory (perl), its user namespace helpers, prepared inits not yet named.
        const pool = childPids(d.pid).filter((pid) =>
          /^spawn-pool/.test(readProc(`/proc/${pid}/comm`) ?? "")
        );
        for (const pid of [...pool, ...pool.flatMap(childPids)]) {
          if (seen.has(pid)) continue;
          try {
            seen.set(pid, fdsOf(pid));
          } catch {
            // gone already
          }
        }
        await sleep(0);
      }
      for (const r of requests) closeNamespaces(c.receive(r));
    } finally {
      c.close();
    }
    assert(seen.size >= 1, "caught no pool process while it ran");
    for (const [pid, fds] of seen) {
      // The dynamic loader of a freshly exec'ed process may have a library open.
      const kinds = [...fds.values()].filter((t) =>
        !/\.so(\.\d+)*$/.test(t) && !/^(pipe:|\/dev\/null$)/.test(t)
      );
      assertEquals(kinds, [], `pool process ${pid} holds more than pipes and /dev/null`);
    }
  });
});

Deno.test("fds sent to the daemon are closed; too many get an ERROR (truncated ancillary data)", async () => {
  await withDaemon([], async (d) => {
    const c = new AccessoryConnection(d.address, 5000);
    const pipes = Array.from({ length: 4 }, () => pipe());
    try {
      closeNamespaces(c.request(namespaceRequest("warm", { ipc: true })));
      await sleep(100);
      const before = fdCount(d.pid);
      const request = namespaceRequest("warm", { ipc: true });
      const buf = new Uint8Array(4096);
      const receiver = new MessageReceiver();
      for (let i = 0; i < 20; i++) {
        // Two fds fit the daemon's receive buffer: served, fds closed.
        sendMessage(c.fd, encodeRequest(request), pipes[0], MSG_NOSIGNAL);
        closeNamespaces(c.receive(request));
        // Eight do not (MSG_CTRUNC): an ERROR, the connection stays.
        sendMessage(c.fd, encodeRequest(request), pipes.flat(), MSG_NOSIGNAL);
        const m = receiver.receive(c.fd, buf, 0)!;
        assertEquals(m.fds.length, 0);
        assertMatch(
          new TextDecoder().decode(buf.subarray(0, m.length)),
          /Ancillary data truncated/,
        );
      }
      closeNamespaces(c.request(request));
      await sleep(100);
      assertEquals(fdCount(d.pid), before, "the daemon kept fds it was sent");
    } finally {
      c.close();
      for (const p of pipes) p.forEach(closeQuietly);
    }
  });
});

Deno.test("out of fds, requests get an ERROR, never a partial set of fds", async () => {
  const d = await Daemon.start([], {}, ["prlimit", "--nofile=60:60", "--"]);
  const held: Namespaces[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < 40; i++) {
      try {
        // Every success passes the client's completeness check.
        const ns = makeNamespaces(`full-${i}`, {
          socket: d.address,
          ipc: true,
          pid: true,
          lease: true,
          timeout: 10_000,
        });
        assert(ns.ipc !== undefined && ns.pid !== undefined && ns.lease !== undefined);
        held.push(ns);
      } catch (e) {
        if (!(e instanceof ServerError)) throw e;
        assertMatch(e.message, /Too many open files|EMFILE/);
        errors++;
      }
    }
    assert(errors > 0, "the fd limit was never reached");
    for (const ns of held.splice(0)) closeNamespaces(ns);
  } finally {
    for (const ns of held) closeNamespaces(ns);
    const { code, log } = await d.stop();
    assertEquals(code, 0, log);
  }
});

Deno.test("a client out of fds (MSG_CTRUNC) refuses the partial response and closes what arrived", async () => {
  await withDaemon([], async (d) => {
    const out = await new Deno.Command(DENO, {
      args: ["run", "-A", new URL("./fd_starved_client.ts", import.meta.url).pathname, d.address],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(text);
    assertEquals(result.error, "ProtocolError", text);
    assertMatch(result.message, /truncated/);
    assert(result.leaked <= 0, `the client kept fds of the partial response: ${text}`);
  });
});
