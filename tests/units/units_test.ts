// The unit files: systemd-analyze verify is clean, and the settings the
// spec asks for are there.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { PATHS, PROGRAMS, UNITS } from "../../packaging/layout.ts";
import { addHostSystem, verifyUnits } from "./verify_root.ts";
import { parseUnitFile, type UnitFile, value } from "./unit_file.ts";

const UNITS_DIR = new URL("../../units/", import.meta.url).pathname;

const readUnit = (name: string): UnitFile =>
  parseUnitFile(Deno.readTextFileSync(`${UNITS_DIR}${name}`));

/** A scratch root with our units and a stub executable at each launcher's /usr/sbin path. */
async function withStubRoot(body: (root: string) => Promise<void>) {
  const root = Deno.makeTempDirSync({ prefix: "units-root-" });
  try {
    await addHostSystem(root);
    for (const unit of UNITS) {
      Deno.copyFileSync(`${UNITS_DIR}${unit}`, `${root}/${PATHS.unitDir}/${unit}`);
    }
    Deno.mkdirSync(`${root}/${PATHS.sbinDir}`, { recursive: true });
    for (const { name } of PROGRAMS) {
      Deno.writeTextFileSync(`${root}/${PATHS.sbinDir}/${name}`, "#!/bin/sh\n", { mode: 0o755 });
    }
    await body(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("systemd-analyze verify passes every unit without a single warning", async () => {
  await withStubRoot(async (root) => {
    const { code, output } = await verifyUnits(root);
    assertEquals(output, "");
    assertEquals(code, 0);
  });
});

Deno.test("the verify harness catches unknown keys and missing launchers", async () => {
  await withStubRoot(async (root) => {
    const reaper = `${root}/${PATHS.unitDir}/cm4all-spawn-reaper.service`;
    Deno.writeTextFileSync(reaper, Deno.readTextFileSync(reaper) + "[Service]\nRestartt=always\n");
    Deno.removeSync(`${root}/${PATHS.sbinDir}/cm4all-spawn-netns`);
    const { output } = await verifyUnits(root);
    assertMatch(output, /Unknown key( name)? 'Restartt'/);
    assertMatch(output, /\/usr\/sbin\/cm4all-spawn-netns is not executable/);
  });
});

Deno.test("daemons are Type=notify, reload with SIGHUP, restart on failure, run in the slice", () => {
  for (const name of ["cm4all-spawn-accessory.service", "cm4all-spawn-reaper.service"]) {
    const unit = readUnit(name);
    assertEquals(value(unit, "Service", "Type"), "notify", name);
    assertEquals(value(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID", name);
    assertEquals(value(unit, "Service", "Restart"), "on-failure", name);
    assertEquals(value(unit, "Service", "Slice"), "system-cm4all.slice", name);
    assertEquals(value(unit, "Service", "MemoryDenyWriteExecute"), undefined, name);
    assertEquals(value(unit, "Service", "NoNewPrivileges"), "yes", name);
    assertEquals(value(unit, "Service", "ProtectSystem"), "strict", name);
    const program = name.replace(".service", "");
    assertEquals(value(unit, "Service", "ExecStart"), `/${PATHS.sbinDir}/${program}`, name);
  }
});

Deno.test("the accessory is socket-activated on @cm4all-spawn and keeps its inits on restart", () => {
  const socket = readUnit("cm4all-spawn-accessory.socket");
  assertEquals(value(socket, "Socket", "ListenSequentialPacket"), "@cm4all-spawn");
  assertEquals(value(socket, "Socket", "PassCredentials"), "true");
  const service = readUnit("cm4all-spawn-accessory.service");
  assertEquals(value(service, "Service", "KillMode"), "process");
  assertEquals(value(service, "Unit", "Requires"), "cm4all-spawn-accessory.socket");
  assertMatch(value(service, "Service", "CapabilityBoundingSet")!, /\bCAP_SYS_ADMIN\b/);
});

Deno.test("the reaper runs as the sysusers user with only CAP_DAC_OVERRIDE", async () => {
  const service = readUnit("cm4all-spawn-reaper.service");
  const user = value(service, "Service", "User")!;
  assertEquals(value(service, "Service", "AmbientCapabilities"), "CAP_DAC_OVERRIDE");
  assertEquals(value(service, "Service", "CapabilityBoundingSet"), "CAP_DAC_OVERRIDE");
  assertEquals(value(service, "Service", "ProtectControlGroups"), undefined, "must rmdir cgroups");
  // systemd-sysusers creates that user from our file in a scratch root.
  const root = Deno.makeTempDirSync({ prefix: "sysusers-root-" });
  try {
    Deno.mkdirSync(`${root}/etc`);
    const out = await new Deno.Command("systemd-sysusers", {
      args: [
        `--root=${root}`,
        new URL("../../units/cm4all-spawn.sysusers", import.meta.url).pathname,
      ],
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertMatch(
      Deno.readTextFileSync(`${root}/etc/passwd`),
      new RegExp(`^${user}:x:\\d+:\\d+:`, "m"),
    );
    assertMatch(Deno.readTextFileSync(`${root}/etc/group`), new RegExp(`^${user}:x:\\d+:`, "m"));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("cm4all-spawn-netns@.service runs up/down for the instance as a oneshot", () => {
  const unit = readUnit("cm4all-spawn-netns@.service");
  assertEquals(value(unit, "Service", "Type"), "oneshot");
  assertEquals(value(unit, "Service", "RemainAfterExit"), "yes");
  assertEquals(value(unit, "Service", "ExecStart"), "/usr/sbin/cm4all-spawn-netns up %i");
  assertEquals(value(unit, "Service", "ExecStop"), "/usr/sbin/cm4all-spawn-netns down %i");
  assertEquals(value(unit, "Service", "Slice"), "system-cm4all.slice");
  // A private mount namespace would hide /run/netns/NAME from the host.
  for (const key of ["ProtectSystem", "PrivateTmp", "ProtectHome", "PrivateDevices"]) {
    assertEquals(value(unit, "Service", key), undefined, key);
  }
});

Deno.test("every unit file in units/ is listed for installation", () => {
  const present = [...Deno.readDirSync(UNITS_DIR)].map((e) => e.name)
    .filter((n) => /\.(service|socket|slice|timer)$/.test(n)).sort();
  assertEquals(present, [...UNITS].sort());
  assert(UNITS.includes("system-cm4all.slice"));
});
