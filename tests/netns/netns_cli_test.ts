// cm4all-spawn-netns against real network namespaces and veth pairs (root).
// Every test uses its own t<random> name and removes what it may have left.
import { assert, assertEquals, assertMatch } from "../assert.ts";

const MAIN = new URL("../../netns/main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

function uniqueName(): string {
  return "t" + crypto.randomUUID().replaceAll("-", "").slice(0, 8);
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const netns = (...args: string[]) => run([Deno.execPath(), "run", "-A", MAIN, ...args]);

async function linkExists(name: string, namespace?: string): Promise<boolean> {
  const nsArgs = namespace ? ["-n", namespace] : [];
  return (await run(["ip", ...nsArgs, "link", "show", "dev", name])).code === 0;
}

function namespaceExists(name: string): boolean {
  try {
    Deno.statSync(`/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

async function assertNothingLeft(name: string) {
  assert(!namespaceExists(name), `namespace ${name} left behind`);
  assert(!(await linkExists(name)), `link ${name} left behind`);
  assert(!(await linkExists(`${name}_peer`)), `link ${name}_peer left behind`);
}

/** Runs body with a fresh name and setup dir; removes namespace, links and dir afterwards. */
async function withName(body: (name: string, setupDir: string) => Promise<void>) {
  const name = uniqueName();
  const setupDir = Deno.makeTempDirSync({ prefix: "netns-setup-" });
  try {
    await body(name, setupDir);
  } finally {
    await run(["ip", "link", "delete", name]);
    await run(["ip", "link", "delete", `${name}_peer`]);
    await run(["ip", "netns", "delete", name]);
    Deno.removeSync(setupDir, { recursive: true });
  }
}

function writeScript(path: string, body: string) {
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

Deno.test("up creates namespace, veth pair and net0 (up), runs the setup script inside", async () => {
  await withName(async (name, dir) => {
    const report = `${dir}/report`;
    writeScript(
      `${dir}/${name}`,
      `set -e
ip addr add 10.213.7.2/24 dev "$1"
{ echo "$1"; readlink /proc/self/ns/net; ip -o link show dev "$1"; } > ${report}`,
    );
    const result = await netns("up", name, "--setup-dir", dir);
    assertEquals(result.code, 0, result.stderr);
    assert(namespaceExists(name));
    assert(await linkExists(name), "host-side veth missing");
    assert(!(await linkExists(`${name}_peer`)), "peer still in the host namespace");
    const [arg, nsLink, linkLine] = Deno.readTextFileSync(report).trim().split("\n");
    assertEquals(arg, "net0");
    assertEquals(nsLink, `net:[${Deno.statSync(`/run/netns/${name}`).ino}]`);
    assertNotHostNamespace(nsLink);
    assertMatch(linkLine, /net0@\S+: <[^>]*\bUP\b/);
    const addr = await run(["ip", "-n", name, "-o", "addr", "show", "dev", "net0"]);
    assertMatch(addr.stdout, /inet 10\.213\.7\.2\/24/);
  });
});

function assertNotHostNamespace(nsLink: string) {
  assert(nsLink !== Deno.readLinkSync("/proc/self/ns/net"), "script ran in the host namespace");
}

Deno.test("down removes link and namespace and succeeds when run twice", async () => {
  await withName(async (name, dir) => {
    writeScript(`${dir}/${name}`, "exit 0");
    assertEquals((await netns("up", name, "--setup-dir", dir)).code, 0);
    const first = await netns("down", name);
    assertEquals(first.code, 0, first.stderr);
    await assertNothingLeft(name);
    const second = await netns("down", name);
    assertEquals(second.code, 0, second.stderr);
    assertEquals(second.stderr, "");
  });
});

Deno.test("a missing setup script fails before anything is created", async () => {
  await withName(async (name, dir) => {
    const result = await netns("up", name, "--setup-dir", dir);
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr,
      `cm4all-spawn-netns: setup script ${dir}/${name}: No such file or directory\n`,
    );
    await assertNothingLeft(name);
  });
});

Deno.test("a failing setup script leaves no namespace and no link behind", async () => {
  await withName(async (name, dir) => {
    writeScript(`${dir}/${name}`, 'ip addr add 10.213.8.2/24 dev "$1"; echo partial; exit 3');
    const result = await netns("up", name, "--setup-dir", dir);
    assertEquals(result.code, 1);
    assertMatch(result.stdout, /partial/);
    assertMatch(
      result.stderr,
      new RegExp(
        `^cm4all-spawn-netns: ip netns exec ${name} .*exited with status 3 \\(everything done so far was undone\\)\\n$`,
      ),
    );
    await assertNothingLeft(name);
  });
});

Deno.test("a name too long for NAME_peer is a usage error and creates nothing", async () => {
  const name = uniqueName() + "xx"; // 11 bytes
  try {
    const result = await netns("up", name, "--setup-dir", "/nonexistent");
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /^cm4all-spawn-netns: NAME '\w+' is 11 bytes; at most 10 /);
    assert(!namespaceExists(name));
  } finally {
    await run(["ip", "netns", "delete", name]);
  }
});

Deno.test("an existing namespace of that name makes up fail and stays untouched", async () => {
  await withName(async (name, dir) => {
    writeScript(`${dir}/${name}`, "exit 0");
    assertEquals((await run(["ip", "netns", "add", name])).code, 0);
    const result = await netns("up", name, "--setup-dir", dir);
    assertEquals(result.code, 1);
    assertMatch(result.stderr, /ip netns add \w+: .*File exists\n$/);
    assert(namespaceExists(name), "someone else's namespace was deleted");
    assert(!(await linkExists(name)));
    assert(!(await linkExists(`${name}_peer`)));
  });
});

Deno.test("an existing link of that name makes up fail and undo the new namespace", async () => {
  await withName(async (name, dir) => {
    writeScript(`${dir}/${name}`, "exit 0");
    // Someone else's veth (dummy devices need a module that may be missing).
    const other = ["ip", "link", "add", name, "type", "veth", "peer", "name", `${name}_o`];
    assertEquals((await run(other)).code, 0);
    const result = await netns("up", name, "--setup-dir", dir);
    assertEquals(result.code, 1);
    assertMatch(result.stderr, /ip link add \w+ type veth .*\(everything done so far was undone\)/);
    assert(!namespaceExists(name), "new namespace left behind");
    assert(await linkExists(name), "someone else's link was deleted");
    assert(!(await linkExists(`${name}_peer`)));
  });
});

Deno.test("SIGTERM while the setup script runs undoes everything", async () => {
  await withName(async (name, dir) => {
    const started = `${dir}/started`;
    writeScript(`${dir}/${name}`, `touch ${started}; exec sleep 30`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "up", name, "--setup-dir", dir],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      for (let i = 0; i < 200 && !exists(started); i++) await delay(25);
      assert(exists(started), "setup script never started");
      child.kill("SIGTERM");
      const out = await child.output();
      assertEquals(out.code, 1);
      assertMatch(decoder.decode(out.stderr), /interrupted by SIGTERM|killed by SIGTERM/);
      await assertNothingLeft(name);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }
  });
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
