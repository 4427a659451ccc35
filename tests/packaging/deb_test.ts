// deno task deb: the package's metadata, contents, unpacked layout and
// maintainer scripts.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { buildDeb, debFileName } from "../../packaging/deb.ts";
import { PATHS, PROGRAMS, UNITS } from "../../packaging/layout.ts";
import { VERSION } from "../../shared/version.ts";
import { addHostSystem, verifyUnits } from "../units/verify_root.ts";
import { emptyEnvironment, run, withDist } from "./dist_fixture.ts";

const DEBIAN = new URL("../../packaging/debian/", import.meta.url).pathname;

Deno.test("the .deb has the layout the units expect, /etc as conffiles, and works unpacked", async () => {
  await withDist(async (dist, _manifest, tmp) => {
    const deb = await buildDeb(dist, tmp);
    assertEquals(deb, `${tmp}/${debFileName(VERSION)}`);
    assertEquals(debFileName(VERSION), `cm4all-spawn_${VERSION}_amd64.deb`);

    const info = await run(["dpkg-deb", "-I", deb]);
    assertEquals(info.code, 0, info.stderr);
    assertMatch(info.stdout, /^ Package: cm4all-spawn$/m);
    assertMatch(info.stdout, new RegExp(`^ Version: ${VERSION.replaceAll(".", "\\.")}$`, "m"));
    assertMatch(info.stdout, /^ Architecture: amd64$/m);
    assertMatch(info.stdout, /^ Depends: .*\biproute2\b/m);
    const conffiles = await run(["dpkg-deb", "-I", deb, "conffiles"]);
    assertEquals(conffiles.stdout, `/${PATHS.reaperLua}\n`);

    const contents = (await run(["dpkg-deb", "-c", deb])).stdout;
    const expected = [
      ...PROGRAMS.flatMap((
        { name },
      ) => [`./${PATHS.libDir}/${name}`, `./${PATHS.sbinDir}/${name}`]),
      `./${PATHS.libDir}/deno`,
      ...UNITS.map((unit) => `./${PATHS.unitDir}/${unit}`),
      `./${PATHS.sysusersFile}`,
      `./${PATHS.reaperLua}`,
      `./${PATHS.netnsSetupDir}/`,
    ];
    for (const path of expected) {
      assertMatch(
        contents,
        new RegExp(` root/root .* ${path.replaceAll(".", "\\.")}( -> |$)`, "m"),
      );
    }
    assertMatch(contents, /^drwxr-xr-x root\/root .* \.\/$/m);

    const root = `${tmp}/unpacked`;
    assertEquals((await run(["dpkg-deb", "-x", deb, root])).code, 0);
    await addHostSystem(root);
    const verify = await verifyUnits(root);
    assertEquals(verify.output, "", "units against the unpacked package");
    const netns = await run([`${root}/${PATHS.sbinDir}/cm4all-spawn-netns`, "--version"], {
      env: emptyEnvironment(`${tmp}/empty`),
    });
    assertEquals(netns.stdout, `${VERSION}\n`);
  });
});

/** Runs a maintainer script with PATH = stub commands that log their arguments. */
async function runMaintainerScript(script: string, arg: string, stubs: string[]) {
  const dir = Deno.makeTempDirSync({ prefix: "maint-" });
  try {
    for (const stub of stubs) {
      const exit = stub === "getent" ? 2 : 0; // getent: "no such user"
      Deno.writeTextFileSync(
        `${dir}/${stub}`,
        `#!/bin/sh\necho "${stub} $*" >> ${dir}/calls\nexit ${exit}\n`,
        {
          mode: 0o755,
        },
      );
    }
    const out = await run(["/bin/sh", `${DEBIAN}${script}`, arg], { env: { PATH: dir } });
    let calls = "";
    try {
      calls = Deno.readTextFileSync(`${dir}/calls`);
    } catch { /* none */ }
    return { code: out.code, calls: calls.trim().split("\n").filter((l) => l) };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("postinst creates the reaper user, and reloads systemd only when it runs", async () => {
  const result = await runMaintainerScript("postinst", "configure", [
    "systemd-sysusers",
    "adduser",
    "systemctl",
  ]);
  assertEquals(result.code, 0);
  const systemdRunning = (() => {
    try {
      return Deno.statSync("/run/systemd/system").isDirectory;
    } catch {
      return false;
    }
  })();
  // A first install starts nothing: the admin enables the units.
  assertEquals(result.calls, [
    `systemd-sysusers /${PATHS.sysusersFile}`,
    ...(systemdRunning ? ["systemctl --system daemon-reload"] : []),
  ]);
});

const ENABLEABLE = [
  "cm4all-spawn-accessory.socket",
  "cm4all-spawn-accessory.service",
  "cm4all-spawn-reaper.service",
  "cm4all-spawn-metrics.timer",
];

Deno.test("the maintainer scripts name every unit that can be enabled (but templates)", () => {
  const units = new URL("../../units/", import.meta.url).pathname;
  const enableable = UNITS.filter((unit) =>
    !unit.includes("@.") && /^\[Install\]$/m.test(Deno.readTextFileSync(`${units}${unit}`))
  );
  assertEquals([...ENABLEABLE].sort(), [...enableable].sort());
  for (const script of ["postinst", "postrm"]) {
    const list = Deno.readTextFileSync(`${DEBIAN}${script}`).match(/^UNITS="([^"]*)"$/m);
    assert(list !== null, `${script} has no UNITS=`);
    assertEquals(list[1].split(" "), ENABLEABLE, script);
  }
});

Deno.test("postinst records the units' enablement links for deb-systemd-helper", async () => {
  const result = await runMaintainerScript("postinst", "configure", [
    "systemd-sysusers",
    "deb-systemd-helper",
  ]);
  assertEquals(result.code, 0);
  assertEquals(
    result.calls.filter((call) => call.startsWith("deb-systemd-helper")),
    ENABLEABLE.flatMap((unit) => [
      `deb-systemd-helper debian-installed ${unit}`,
      `deb-systemd-helper unmask ${unit}`,
      `deb-systemd-helper --quiet was-enabled ${unit}`,
      `deb-systemd-helper enable ${unit}`,
      `deb-systemd-helper update-state ${unit}`,
    ]),
  );
});

Deno.test("postrm: remove masks, purge removes the enablement links and masks", async () => {
  const remove = await runMaintainerScript("postrm", "remove", ["deb-systemd-helper"]);
  assertEquals(remove.code, 0);
  assertEquals(remove.calls, ENABLEABLE.map((unit) => `deb-systemd-helper mask ${unit}`));
  const purge = await runMaintainerScript("postrm", "purge", ["deb-systemd-helper"]);
  assertEquals(purge.code, 0);
  assertEquals(
    purge.calls,
    ENABLEABLE.flatMap((unit) => [
      `deb-systemd-helper purge ${unit}`,
      `deb-systemd-helper unmask ${unit}`,
    ]),
  );
});

Deno.test("postinst falls back to adduser without systemd-sysusers", async () => {
  const result = await runMaintainerScript("postinst", "configure", ["getent", "adduser"]);
  assertEquals(result.code, 0);
  assertEquals(result.calls, [
    "getent passwd cm4all-spawn-reaper",
    "adduser --system --group --no-create-home --home /nonexistent --gecos CM4all spawn reaper cm4all-spawn-reaper",
  ]);
});

Deno.test("maintainer scripts are valid sh and do nothing for other actions", async () => {
  for (const script of ["postinst", "prerm", "postrm"]) {
    assertEquals((await run(["/bin/sh", "-n", `${DEBIAN}${script}`])).code, 0, script);
    assert((Deno.statSync(`${DEBIAN}${script}`).mode! & 0o111) !== 0, `${script} not executable`);
  }
  const upgrade = await runMaintainerScript("postinst", "abort-upgrade", ["systemd-sysusers"]);
  assertEquals(upgrade, { code: 0, calls: [] });
});
