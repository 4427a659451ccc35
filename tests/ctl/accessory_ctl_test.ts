// The accessory daemon, run for real: STATUS= through a notify socket the
// test binds, native journal entries through a journal socket the test binds
// (JOURNAL_STREAM matching its stderr), cm4all-spawnctl names/name after
// requests, leases and expiry, metrics parsed back, and uid 65534 refused.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { closeQuietly } from "../../ffi/fd.ts";
import { getuid } from "../../ffi/process.ts";
import { makeNamespaces } from "../../shared/client.ts";
import type { NameResponse, NamesResponse } from "../../shared/control_protocol.ts";
import { uniqueAddress } from "../accessory/harness.ts";
import {
  ACCESSORY,
  DatagramSink,
  DENO,
  eventually,
  journalWrapper,
  parseOpenMetrics,
  spawnctl,
  spawnctlJson,
} from "./ctl_harness.ts";

const opts = { ignore: getuid() !== 0, sanitizeOps: false, sanitizeResources: false };

class Accessory {
  readonly child: Deno.ChildProcess;
  stderr = "";
  readonly #reading: Promise<void>;

  constructor(args: string[], env: Record<string, string>, wrapper: string[]) {
    const argv = [...wrapper, DENO, "run", "-A", ACCESSORY, ...args];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = this.child.stderr;
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stderr) {
        this.stderr += decoder.decode(chunk, { stream: true });
      }
    })();
  }

  async stop(): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // gone
    }
    const status = await this.child.status;
    await this.#reading;
    return status.code;
  }
}

/** The inode of /proc/PID/ns/KIND (the oracle for the inode numbers spawnctl shows). */
const nsInode = (pid: number, kind: string) => Deno.statSync(`/proc/${pid}/ns/${kind}`).ino;

Deno.test(
  "accessory: STATUS=, journal fields, spawnctl names/name/metrics, refusals",
  opts,
  async (t) => {
    const dir = Deno.makeTempDirSync({ prefix: "ctl-accessory-" });
    Deno.chmodSync(dir, 0o755); // uid 65534 must reach the control socket to be refused by it
    const notify = new DatagramSink(`${dir}/notify`);
    const journal = new DatagramSink(`${dir}/journal`);
    const control = `${dir}/control`;
    const address = uniqueAddress("ctl");
    const daemon = new Accessory(
      ["--listen", address, "--control", control, "--namespace-ttl", "2"],
      { NOTIFY_SOCKET: notify.path, SPAWN_JOURNAL_SOCKET: journal.path },
      journalWrapper(),
    );
    const held: number[] = [];
    try {
      await eventually(() => notify.texts().includes("READY=1"), () => daemon.stderr);
      assertEquals(notify.texts()[0], "READY=1", "READY=1 comes first");

      const alpha = makeNamespaces("alpha", { socket: address, ipc: true, pid: true });
      closeQuietly(alpha.ipc!);
      closeQuietly(alpha.pid!);
      const beta = makeNamespaces("beta", {
        socket: address,
        pid: true,
        uidMap: "0 65534 1\n",
        gidMap: "0 65534 1\n",
        lease: true,
      });
      held.push(beta.lease!);
      closeQuietly(beta.pid!);
      closeQuietly(beta.user!);

      await t.step("STATUS= tells names, namespaces, leases and requests", async () => {
        const want = "STATUS=2 names (2 PID, 1 user namespace), 1 lease; 2 requests, 0 refused";
        await eventually(() => notify.texts().includes(want), () => notify.texts().join("\n"));
      });

      let alphaInit = 0;
      await t.step("names --json: kinds, inodes, init pid, leases, expiry", async () => {
        const answer = await spawnctlJson<NamesResponse>(["--accessory", control, "names"]);
        assertEquals(answer.version, 1);
        assertEquals(answer.daemon, "accessory");
        assertEquals(answer.names.map((n) => n.name), ["alpha", "beta"]);
        const [a, b] = answer.names;
        alphaInit = a.initPid!;
        assert(alphaInit > 0);
        assertEquals(a.namespaces.pid, nsInode(a.initPid!, "pid"));
        assertEquals(a.namespaces.ipc, nsInode(a.initPid!, "ipc"));
        assertEquals(a.leases, 0);
        assert(a.secondsUntilExpiry !== null && a.secondsUntilExpiry <= 2, "alpha counts down");
        assertEquals(b.leases, 1);
        assertEquals(b.secondsUntilExpiry, null, "beta is leased");
        assertEquals(b.userNamespaces, 1);
        assertEquals(b.namespaces.user.length, 1);
        assertEquals(answer.status.requests, 2);
      });

      await t.step("names (text) and name NAME with the maps", async () => {
        const names = await spawnctl(["--accessory", control, "names"]);
        assertEquals(names.code, 0, names.stderr);
        const lines = names.stdout.trimEnd().split("\n");
        assertMatch(lines[0], /^2 names, 1 leases; 2 requests, 0 refused; TTL 2s$/);
        assertMatch(lines[1], /^NAME\s+INIT\s+IPC\s+PID\s+USER\s+LEASES\s+IDLE\s+EXPIRES$/);
        assertMatch(
          lines[2],
          new RegExp(`^alpha\\s+${alphaInit}\\s+\\d+\\s+\\d+\\s+0\\s+0\\s+\\d+s\\s+\\ds$`),
        );
        assertMatch(lines[3], /^beta\s+\d+\s+\d+\s+\d+\s+1\s+1\s+\d+s\s+leased$/);

        const one = await spawnctl(["--accessory", control, "name", "beta"]);
        assertEquals(one.code, 0, one.stderr);
        assertMatch(one.stdout, /^expires in: {2}leased$/m);
        assertMatch(one.stdout, /^ {4}uid_map: 0 65534 1$/m);
        assertMatch(one.stdout, /^ {4}gid_map: 0 65534 1$/m);
        const json = await spawnctlJson<NameResponse>(["--accessory", control, "name", "beta"]);
        assertEquals(json.name.userNamespaceMaps[0].uidMap, "0 65534 1\n");

        const missing = await spawnctl(["--accessory", control, "name", "gamma"]);
        assertEquals(missing.code, 1);
        assertMatch(missing.stderr, /control socket .*: no such name: "gamma"/);
      });

      await t.step("journal entries carry SPAWN_NAME; stderr does not repeat them", () => {
        const entries = journal.entries();
        const created = entries.find((e) =>
          e.get("SPAWN_NAME") === "alpha" && /new PID namespace/.test(e.get("MESSAGE") ?? "")
        );
        assert(created, `no entry for alpha: ${JSON.stringify(entries.map((e) => [...e]))}`);
        assertEquals(created.get("PRIORITY"), "6");
        assertEquals(created.get("SYSLOG_IDENTIFIER"), "cm4all-spawn-accessory");
        assertEquals(created.get("MESSAGE"), `"alpha": new PID namespace, init pid ${alphaInit}`);
        assert(!/new PID namespace/.test(daemon.stderr), daemon.stderr);
      });

      await t.step("a released lease lets the name expire", async () => {
        closeQuietly(held.pop()!);
        await eventually(async () => {
          const answer = await spawnctlJson<NamesResponse>(["--accessory", control, "names"]);
          return answer.names.length === 0;
        }, () => "names still there");
        const discarded = journal.entries().filter((e) =>
          e.get("MESSAGE")?.endsWith(": discarded")
        );
        assertEquals(discarded.map((e) => e.get("SPAWN_NAME")).sort(), ["alpha", "beta"]);
        await eventually(
          () =>
            notify.texts().at(-1)!.startsWith(
              "STATUS=0 names (0 PID, 0 user namespaces), 0 leases",
            ),
          () => notify.texts().join("\n"),
        );
      });

      await t.step(
        "a non-root caller is refused: by the file mode, then by SO_PEERCRED",
        async () => {
          const byMode = await spawnctl(["--accessory", control, "names"], 65534);
          assertEquals(byMode.code, 1);
          assertEquals(
            byMode.stderr,
            `cm4all-spawnctl: accessory control socket ${control}: permission denied ` +
              "(cm4all-spawnctl must run as root)\n",
          );
          Deno.chmodSync(control, 0o666);
          const byCredentials = await spawnctl(["--accessory", control, "names"], 65534);
          assertEquals(byCredentials.code, 1);
          assertEquals(
            byCredentials.stderr,
            `cm4all-spawnctl: accessory control socket ${control}: permission denied: ` +
              "uid 65534 is not root\n",
          );
          await eventually(
            () => journal.entries().some((e) => e.get("SPAWN_PEER_UID") === "65534"),
            () => "no refusal entry",
          );
          const refusal = journal.entries().find((e) => e.get("SPAWN_PEER_UID") === "65534")!;
          assertEquals(refusal.get("PRIORITY"), "4");
          assert(Number(refusal.get("SPAWN_PEER_PID")) > 0);
        },
      );

      await t.step("metrics: the accessory's figures, the missing reaper named", async () => {
        const out = await spawnctl([
          "--accessory",
          control,
          "--reaper",
          `${dir}/no-reaper`,
          "metrics",
        ]);
        assertEquals(out.code, 0, out.stderr);
        assertMatch(
          out.stderr,
          new RegExp(`reaper control socket ${dir}/no-reaper: no such socket`),
        );
        const m = parseOpenMetrics(out.stdout);
        assertEquals(m.get("cm4all_spawn_accessory_up"), 1);
        assertEquals(m.get("cm4all_spawn_accessory_names"), 0);
        assertEquals(m.get("cm4all_spawn_accessory_requests_total"), 2);
        assertEquals(m.get("cm4all_spawn_accessory_refused_total"), 0);
        assertEquals(m.get("cm4all_spawn_reaper_up"), 0);
        assertEquals(m.has("cm4all_spawn_reaper_reaped_total"), false);
      });

      await t.step("mixed-up sockets are named", async () => {
        const out = await spawnctl(["--reaper", control, "reaper"]);
        assertEquals(out.code, 1);
        assertEquals(
          out.stderr,
          `cm4all-spawnctl: ${control} is the accessory's control socket, not the reaper's ` +
            "(mixed up --accessory and --reaper?)\n",
        );
      });

      await t.step("a second daemon does not steal the control socket", async () => {
        const second = new Accessory(
          ["--listen", uniqueAddress("ctl2"), "--control", control],
          {},
          [],
        );
        try {
          await eventually(() => /listening/.test(second.stderr), () => second.stderr);
          assertMatch(second.stderr, /control socket .*: another daemon is serving it/);
        } finally {
          await second.stop();
        }
        const answer = await spawnctlJson<NamesResponse>(["--accessory", control, "names"]);
        assertEquals(answer.pid, daemon.child.pid);
      });
    } finally {
      for (const fd of held) closeQuietly(fd);
      const code = await daemon.stop();
      notify.close();
      journal.close();
      let left: string[] = [];
      try {
        left = [...Deno.readDirSync(dir)].map((e) => e.name);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
      assertEquals(code, 0, daemon.stderr);
      assertEquals(left, [], "the control socket is removed on exit");
    }
  },
);

Deno.test("accessory: without a journal, stderr lines stay as they were", opts, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ctl-accessory-plain-" });
  const journal = new DatagramSink(`${dir}/journal`);
  const address = uniqueAddress("plain");
  const daemon = new Accessory(
    ["--listen", address, "--control", `${dir}/control`],
    { SPAWN_JOURNAL_SOCKET: journal.path },
    ["env", "-u", "JOURNAL_STREAM", "-u", "NOTIFY_SOCKET"],
  );
  try {
    await eventually(() => /listening/.test(daemon.stderr), () => daemon.stderr);
    const ns = makeNamespaces("gamma", { socket: address, pid: true });
    closeQuietly(ns.pid!);
    await eventually(() => /"gamma": new PID namespace/.test(daemon.stderr), () => daemon.stderr);
    assertMatch(daemon.stderr, /^"gamma": new PID namespace, init pid \d+$/m);
    assertEquals(journal.entries().length, 0, "nothing on the journal socket");
  } finally {
    await daemon.stop();
    journal.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(
  "accessory: journal socket gone: the lines go to stderr with priorities",
  opts,
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ctl-accessory-nojournal-" });
    const address = uniqueAddress("nojournal");
    const daemon = new Accessory(
      ["--listen", address, "--control", `${dir}/control`],
      { SPAWN_JOURNAL_SOCKET: `${dir}/no-journal-here` },
      ["env", "-u", "NOTIFY_SOCKET", ...journalWrapper()],
    );
    try {
      await eventually(() => /listening/.test(daemon.stderr), () => daemon.stderr);
      const ns = makeNamespaces("delta", { socket: address, pid: true });
      closeQuietly(ns.pid!);
      await eventually(() => /"delta": new PID namespace/.test(daemon.stderr), () => daemon.stderr);
      assertMatch(daemon.stderr, /^<6>"delta": new PID namespace, init pid \d+$/m);
      assertMatch(daemon.stderr, /^<6>listening \(/m);
    } finally {
      await daemon.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
