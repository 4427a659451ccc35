// deno task install --prefix: the installed tree works and the units verify
// against it (their ExecStart paths are the installed launchers, no stubs).
import { assert, assertEquals } from "../assert.ts";
import { BUNDLE_DIR, PATHS, PROGRAMS, UNITS } from "../../packaging/layout.ts";
import { exists } from "../../packaging/exists.ts";
import { installTree } from "../../packaging/install.ts";
import { readManifest } from "../../packaging/dist.ts";
import { VERSION } from "../../shared/version.ts";
import { addHostSystem, verifyUnits } from "../units/verify_root.ts";
import { emptyEnvironment, filesBelow, run, withDist } from "./dist_fixture.ts";

Deno.test("install puts programs, links, units, sysusers, reaper.lua and setup.d in place", async () => {
  await withDist(async (dist, _manifest, tmp) => {
    const root = `${tmp}/root`;
    const written = installTree(readManifest(dist, true), { root, dist });
    for (const { name } of PROGRAMS) {
      const link = `${root}/${PATHS.sbinDir}/${name}`;
      assertEquals(Deno.readLinkSync(link), `../lib/cm4all/spawn/${name}`);
      const out = await run([link, "--version"], { env: emptyEnvironment(`${tmp}/empty`) });
      assertEquals([out.code, out.stdout], [0, `${VERSION}\n`], name);
    }
    for (const unit of UNITS) assert(written.includes(`${PATHS.unitDir}/${unit}`), unit);
    Deno.statSync(`${root}/${PATHS.sysusersFile}`);
    assert(Deno.statSync(`${root}/${PATHS.netnsSetupDir}`).isDirectory);
    assertEquals(
      Deno.readTextFileSync(`${root}/${PATHS.reaperLua}`),
      Deno.readTextFileSync(`${dist}/share/reaper.lua`),
    );
    await addHostSystem(root);
    const verify = await verifyUnits(root);
    assertEquals(verify.output, "");
    assertEquals(verify.code, 0);
  });
});

Deno.test("installing again keeps an edited reaper.lua and replaces the programs", async () => {
  await withDist((dist, _manifest, tmp) => {
    const root = `${tmp}/root`;
    const manifest = readManifest(dist, true);
    installTree(manifest, { root, dist });
    Deno.writeTextFileSync(`${root}/${PATHS.reaperLua}`, "-- site script\n");
    // Left by earlier versions: a single-file bundle, a chunk of another build.
    const oldBundle = `${root}/${PATHS.libDir}/cm4all-spawn-accessory.js`;
    const oldChunk = `${root}/${PATHS.libDir}/${BUNDLE_DIR}/cm4all-spawn-accessory/chunk-OLD.js`;
    Deno.writeTextFileSync(oldBundle, "// old\n");
    Deno.writeTextFileSync(oldChunk, "// old\n");
    const notes: string[] = [];
    const written = installTree(manifest, { root, dist, log: (line) => notes.push(line) });
    assertEquals(Deno.readTextFileSync(`${root}/${PATHS.reaperLua}`), "-- site script\n");
    assert(!written.includes(PATHS.reaperLua));
    assertEquals(notes, [`install: keeping the existing /${PATHS.reaperLua}`]);
    assert(written.includes(`${PATHS.sbinDir}/cm4all-spawn-netns`));
    assert(!exists(oldBundle), "the old single-file bundle stayed");
    assert(!exists(oldChunk), "a chunk of an earlier build stayed");
    const installed = filesBelow(`${root}/${PATHS.libDir}/${BUNDLE_DIR}`);
    const shipped = filesBelow(`${dist}/${BUNDLE_DIR}`);
    assertEquals(
      installed.map((f) => f.slice(`${root}/${PATHS.libDir}/`.length)),
      shipped.map((f) => f.slice(`${dist}/`.length)),
    );
  });
});

Deno.test("install refuses an incomplete dist, naming what is missing", async () => {
  await withDist((dist) => {
    const path = `${dist}/share/manifest.json`;
    const manifest = JSON.parse(Deno.readTextFileSync(path));
    manifest.missing = [{ name: "cm4all-spawn-reaper", entry: "reaper/main.ts" }];
    Deno.writeTextFileSync(path, JSON.stringify(manifest));
    let message = "";
    try {
      readManifest(dist, true);
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(
      message,
      `${dist} lacks cm4all-spawn-reaper (reaper/main.ts): the units would point at missing programs`,
    );
  });
});
