// `deno task deb`: builds dist/cm4all-spawn_<version>_amd64.deb from a
// complete dist/ with dpkg-deb: the install layout, /etc as conffiles and
// the maintainer scripts in packaging/debian/.
import { fatal, newProgram, parseCommandLine } from "../shared/cli.ts";
import { DIST, readManifest, REPO } from "./dist.ts";
import { installTree } from "./install.ts";
import { PATHS } from "./layout.ts";

export const PACKAGE = "cm4all-spawn";
const MAINTAINER_SCRIPTS = ["postinst", "prerm", "postrm"];

export function debFileName(version: string): string {
  return `${PACKAGE}_${version}_amd64.deb`;
}

export function controlFile(version: string, installedSizeKiB: number): string {
  return `Package: ${PACKAGE}
Version: ${version}
Architecture: amd64
Maintainer: CM4all spawn maintainers <spawn@localhost>
Installed-Size: ${installedSizeKiB}
Depends: libc6, iproute2, util-linux, coreutils, adduser | systemd
Section: admin
Priority: optional
Description: accessory and reaper daemons for process spawners (Deno)
 cm4all-spawn-accessory creates IPC, PID and user namespaces on request,
 cm4all-spawn-reaper runs an accounting script for released cgroups and
 deletes them, cm4all-spawn-netns@.service sets up named network
 namespaces. Ships its own Deno runtime; nothing is downloaded at run time.
`;
}

function sizeKiB(dir: string): number {
  let bytes = 0;
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    const info = Deno.lstatSync(path);
    bytes += info.isDirectory ? sizeKiB(path) * 1024 : info.size;
  }
  return Math.ceil(bytes / 1024);
}

/**
 * Builds the package into outDir; returns its path. `version` overrides the
 * suite's (the live-systemd tests upgrade to a newer build of the same tree).
 */
export async function buildDeb(dist = DIST, outDir = dist, version?: string): Promise<string> {
  const manifest = readManifest(dist, true);
  if (version !== undefined) manifest.version = version;
  const staging = Deno.makeTempDirSync({ prefix: "cm4all-spawn-deb-" });
  Deno.chmodSync(staging, 0o755); // becomes the target's "/"
  try {
    const written = installTree(manifest, { root: staging, dist });
    Deno.mkdirSync(`${staging}/DEBIAN`, { mode: 0o755 });
    Deno.writeTextFileSync(
      `${staging}/DEBIAN/control`,
      controlFile(manifest.version, sizeKiB(staging)),
    );
    const conffiles = written.filter((path) => path.startsWith("etc/")).map((path) => `/${path}`);
    if (conffiles.length > 0) {
      Deno.writeTextFileSync(`${staging}/DEBIAN/conffiles`, conffiles.join("\n") + "\n");
    }
    for (const script of MAINTAINER_SCRIPTS) {
      Deno.copyFileSync(`${REPO}/packaging/debian/${script}`, `${staging}/DEBIAN/${script}`);
      Deno.chmodSync(`${staging}/DEBIAN/${script}`, 0o755);
    }
    // An empty setup.d must still be in the package.
    Deno.statSync(`${staging}/${PATHS.netnsSetupDir}`);
    const output = `${outDir}/${debFileName(manifest.version)}`;
    const out = await new Deno.Command("dpkg-deb", {
      // gzip: xz would spend most of a minute on the 90 MB runtime.
      args: ["--root-owner-group", "-Zgzip", "-z6", "--build", staging, output],
      stdin: "null",
    }).output();
    if (!out.success) {
      throw new Error(`dpkg-deb --build: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    return output;
  } finally {
    Deno.removeSync(staging, { recursive: true });
  }
}

if (import.meta.main) {
  const NAME = "cm4all-spawn-deb";
  const program = newProgram(NAME, "Build the Debian package from the built dist/.")
    .option("--output-dir <DIR>", "where to write the .deb", DIST);
  parseCommandLine(program, Deno.args);
  try {
    const started = performance.now();
    const path = await buildDeb(DIST, program.opts().outputDir);
    const size = (Deno.statSync(path).size / 1024 / 1024).toFixed(1);
    console.log(
      `deb: ${path} (${size} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (e) {
    fatal(NAME, e instanceof Error ? e.message : String(e));
  }
}
