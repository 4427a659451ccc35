// A scratch root for `systemd-analyze verify --root=`: the host's own units
// (so that sysinit.target, sockets.target ... resolve) and kill(1) for
// ExecReload. verify prints warnings but still exits 0, so callers treat any
// output as a failure.
import { PATHS, verifiableUnitNames } from "../../packaging/layout.ts";

const HOST_UNIT_DIR = "/lib/systemd/system";

async function run(argv: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** Adds the host units and /bin/kill to root (which may already hold our files). */
export async function addHostSystem(root: string): Promise<void> {
  const unitDir = `${root}/${PATHS.unitDir}`;
  Deno.mkdirSync(unitDir, { recursive: true });
  // Copies, not symlinks: verify resolves absolute links inside the root.
  const copy = await run(["cp", "-an", `${HOST_UNIT_DIR}/.`, `${unitDir}/`]);
  if (copy.code !== 0) throw new Error(`copying ${HOST_UNIT_DIR}: ${copy.output}`);
  Deno.mkdirSync(`${root}/bin`, { recursive: true });
  Deno.copyFileSync(Deno.realPathSync("/bin/kill"), `${root}/bin/kill`);
  Deno.chmodSync(`${root}/bin/kill`, 0o755);
}

/** verify's output for every unit of the suite in root ("" = clean), and its exit code. */
export async function verifyUnits(
  root: string,
  units = verifiableUnitNames(),
): Promise<{ code: number; output: string }> {
  return await run(["systemd-analyze", "verify", `--root=${root}`, "--man=no", ...units]);
}
