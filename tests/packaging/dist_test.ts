// deno task dist: bundles with npm packages inlined, the pinned runtime and
// launchers that run from any copy of dist/ with nothing cached.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { BUNDLE_DIR, bundleEntry, PROGRAMS } from "../../packaging/layout.ts";
import { launcherScript } from "../../packaging/launcher.ts";
import { VERSION } from "../../shared/version.ts";
import {
  dynamicImportSpecifiers,
  emptyEnvironment,
  filesBelow,
  importSpecifiers,
  LITERAL_DYNAMIC_IMPORT,
  run,
  withDist,
} from "./dist_fixture.ts";

const REPO = new URL("../..", import.meta.url).pathname;

Deno.test("dist has every program, the pinned runtime and the shared files", async () => {
  await withDist(async (dist, manifest) => {
    assertEquals(manifest.missing, [], "programs without an entry point");
    assertEquals(manifest.programs, PROGRAMS.map((p) => p.name));
    const runtime = await run([`${dist}/deno`, "--version"]);
    assertMatch(runtime.stdout, new RegExp(`^deno ${Deno.version.deno.replaceAll(".", "\\.")} `));
    for (const name of manifest.programs) {
      assertEquals(
        Deno.readTextFileSync(`${dist}/${name}`),
        launcherScript(
          PROGRAMS.find((p) => p.name === name)!,
        ),
      );
      assert((Deno.statSync(`${dist}/${name}`).mode! & 0o111) !== 0, `${name} not executable`);
    }
    for (const file of ["units/cm4all-spawn-accessory.service", "cm4all-spawn.sysusers"]) {
      Deno.statSync(`${dist}/share/${file}`);
    }
    Deno.statSync(`${dist}/share/reaper.lua`);
  });
});

Deno.test("bundles import nothing but node: built-ins and their own chunks", async () => {
  await withDist((dist, manifest) => {
    const files = filesBelow(`${dist}/${BUNDLE_DIR}`);
    for (const program of PROGRAMS.filter((p) => manifest.programs.includes(p.name))) {
      assert(files.includes(`${dist}/${bundleEntry(program)}`), `no ${bundleEntry(program)}`);
    }
    for (const file of files) {
      const code = Deno.readTextFileSync(file);
      for (const specifier of importSpecifiers(code)) {
        if (specifier.startsWith("node:")) continue;
        assertMatch(specifier, /^\.\.?\//, `${file} imports ${specifier}`);
        const target = new URL(specifier, `file://${file}`).pathname;
        assert(files.includes(target), `${file} imports ${specifier}, which is not in the bundle`);
      }
    }
  });
});

Deno.test("the accessory's usual command line loads no commander and no Node built-in", async () => {
  // What the split is for (BUNDLE_DIR): the daemon's start-up graph.
  await withDist((dist) => {
    const accessory = PROGRAMS.find((p) => p.name === "cm4all-spawn-accessory")!;
    const seen = new Set<string>();
    const statics: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = Deno.readTextFileSync(file);
      const dynamic = new Set(dynamicImportSpecifiers(code));
      for (const specifier of importSpecifiers(code)) {
        if (dynamic.has(specifier)) continue;
        if (specifier.startsWith("node:")) statics.push(`${file}: ${specifier}`);
        else visit(new URL(specifier, `file://${file}`).pathname);
      }
    };
    visit(`${dist}/${bundleEntry(accessory)}`);
    assertEquals(statics, []);
    const loaded = [...seen].map((f) => Deno.readTextFileSync(f)).join("\n");
    assert(!loaded.includes("class CommanderError"), "commander is in the start-up graph");
  });
});

Deno.test("on-demand chunks are imported through a URL, out of Deno's start-up parse", async () => {
  await withDist((dist) => {
    // What deferOnDemandChunks is for: the reaper's Lua hook chunk (fengari,
    // libsodium) is parsed only when a script is loaded.
    const reaper = PROGRAMS.find((p) => p.name === "cm4all-spawn-reaper")!;
    const code = Deno.readTextFileSync(`${dist}/${bundleEntry(reaper)}`);
    const lazy = dynamicImportSpecifiers(code);
    assert(lazy.some((s) => /^\.\/lua_hook-[A-Z0-9]+\.js$/.test(s)), `lazy: ${lazy}`);
    for (const file of filesBelow(`${dist}/${BUNDLE_DIR}`)) {
      const literal = [...Deno.readTextFileSync(file).matchAll(LITERAL_DYNAMIC_IMPORT)];
      assertEquals(literal.map((m) => m[1]), [], `${file} has literal dynamic imports`);
    }
  });
});

Deno.test("launchers run from a copy of dist with empty HOME, DENO_DIR and npm cache", async () => {
  await withDist(async (dist, manifest, tmp) => {
    const copy = `${tmp}/copy`;
    assertEquals((await run(["cp", "-a", dist, copy])).code, 0);
    const env = emptyEnvironment(`${tmp}/empty`);
    for (const name of manifest.programs) {
      const version = await run([`${copy}/${name}`, "--version"], { env, cwd: tmp });
      assertEquals([version.code, version.stdout, version.stderr], [0, `${VERSION}\n`, ""], name);
      const help = await run([`${copy}/${name}`, "--help"], { env, cwd: tmp });
      assertEquals(help.code, 0, name);
      assertMatch(help.stdout, new RegExp(`^Usage: ${name} `), name);
      const bad = await run([`${copy}/${name}`, "--no-such-option"], { env, cwd: tmp });
      assertEquals(bad.code, 2, `${name} --no-such-option`);
      assertMatch(bad.stderr, new RegExp(`^${name}: .*--no-such-option`), name);
    }
    assertEquals(filesBelow(`${tmp}/empty`), [], "something was cached or downloaded");
  });
});

Deno.test("fengari, libsodium-wrappers and commander bundle and run", async () => {
  await withDist(async (dist, _manifest, tmp) => {
    const bundled = `${tmp}/npm_probe.js`;
    const built = await run([
      Deno.execPath(),
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "-o",
      bundled,
      "tests/packaging/fixtures/npm_probe.ts",
    ], { cwd: REPO });
    assertEquals(built.code, 0, built.stderr);
    const env = emptyEnvironment(`${tmp}/empty`);
    const probe = await run(
      [`${dist}/deno`, "run", "--no-config", "--no-npm", "--no-remote", "-A", bundled],
      { env, cwd: tmp },
    );
    assertEquals(probe.code, 0, probe.stderr);
    assertEquals(JSON.parse(probe.stdout), {
      commander: "probe",
      lua: 42,
      sodium: "a0ca5999055203dad0094d5be72ea0aa", // BLAKE2b-128("spawn"), from Python hashlib
    });
  });
});

Deno.test("the accessory from dist serves the client from dist", async () => {
  await withDist(async (dist, manifest, tmp) => {
    if (!manifest.programs.includes("cm4all-spawn-accessory")) throw new Error("no accessory");
    const env = emptyEnvironment(`${tmp}/empty`);
    const socket = `@cm4all-spawn-pkgtest-${crypto.randomUUID().slice(0, 8)}`;
    const name = `pk${crypto.randomUUID().slice(0, 6)}`;
    const daemon = new Deno.Command(`${dist}/cm4all-spawn-accessory`, {
      args: ["--listen", socket],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log: string[] = [];
    const reading = (async () => {
      for await (const chunk of daemon.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
    })();
    try {
      for (let i = 0; i < 200 && !log.join("").includes("listening"); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assertMatch(log.join(""), /listening/);
      const client = await run([
        `${dist}/cm4all-spawn-client`,
        "--socket",
        socket,
        name,
        "/bin/sh",
        "-c",
        "cat /proc/1/comm; echo $$",
      ], { env, cwd: tmp });
      assertEquals(client.code, 0, client.stderr);
      const [init, pid] = client.stdout.trim().split("\n");
      assertEquals(init, `init-${name}`.slice(0, 15));
      assert(Number(pid) > 1 && Number(pid) < 10, `shell pid ${pid} is not in a fresh namespace`);
    } finally {
      daemon.kill("SIGTERM");
      const status = await daemon.status;
      await reading;
      assertEquals(status.code, 0, log.join(""));
    }
    const leftover = await run(["pgrep", "-x", `init-${name}`.slice(0, 15)]);
    assertEquals(leftover.stdout, "", "namespace init left behind");
  });
});

Deno.test("the reaper from dist loads the shipped example script", async () => {
  await withDist(async (dist, _manifest, tmp) => {
    const env = emptyEnvironment(`${tmp}/empty`);
    const check = await run(
      [`${dist}/cm4all-spawn-reaper`, "--check-lua", `${dist}/share/reaper.lua`],
      { env, cwd: tmp },
    );
    assertEquals(check.code, 0, check.stdout + check.stderr);
  });
});

Deno.test("the bundled reaper runs Lua (fengari load order, sodium, LuaJIT numbers)", async () => {
  await withDist(async (dist, _manifest, tmp) => {
    const script = `${tmp}/probe.lua`;
    Deno.writeTextFileSync(
      script,
      'print("probe", 2.0, #sodium.randombytes(8), 2147483647 + 1, string.format("%d", 3e9), ' +
        'os.date("!%j", 0), ("a"):rep(300):find(".-.-b"))\nfunction cgroup_released(cgroup) end\n',
    );
    const check = await run([`${dist}/cm4all-spawn-reaper`, "--check-lua", script], {
      env: emptyEnvironment(`${tmp}/empty`),
      cwd: tmp,
    });
    assertEquals(check.code, 0, check.stdout + check.stderr);
    // LuaJIT's number model and stdlib survive bundling (issue 10)
    assertMatch(check.stdout, /^probe\t2\t8\t2147483648\t3000000000\t001\tnil$/m);
  });
});
