// `deno task compile [--output-dir DIR] [NAME...]`: single executables with
// `deno compile` into dist/compiled/. deno compile needs the matching denort runtime; it is
// downloaded from dl.deno.land unless DENORT_BIN names a local copy, so
// without DENORT_BIN this explains and exits 1 instead of failing on DNS.
import { fatal, newProgram, parseCommandLine, usageError } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";
import { DIST, REPO } from "./dist.ts";
import { PROGRAMS } from "./layout.ts";

const NAME = "cm4all-spawn-compile";

function checkDenort(): string {
  const denort = Deno.env.get("DENORT_BIN");
  if (!denort) {
    fatal(
      NAME,
      `DENORT_BIN is not set: deno compile needs the denort runtime of deno ${Deno.version.deno} ` +
        `(linux x86_64), which it would download from dl.deno.land; set DENORT_BIN=/path/to/denort ` +
        `(or use 'deno task dist', which needs no download)`,
    );
  }
  try {
    if (((Deno.statSync(denort).mode ?? 0) & 0o111) === 0) {
      fatal(NAME, `DENORT_BIN=${denort} is not executable`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fatal(NAME, `DENORT_BIN=${denort}: No such file`);
    throw e;
  }
  return denort;
}

async function run(argv: string[]): Promise<{ success: boolean; output: string }> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), cwd: REPO, stdin: "null" })
    .output();
  const decoder = new TextDecoder();
  return { success: out.success, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

if (import.meta.main) {
  const program = newProgram(NAME, "Build single executables with deno compile (needs DENORT_BIN).")
    .argument("[NAME...]", "programs to compile (default: all)")
    .option("--output-dir <DIR>", "where to write the executables", `${DIST}/compiled`);
  parseCommandLine(program, Deno.args);
  const wanted: string[] = program.args.length > 0 ? program.args : PROGRAMS.map((p) => p.name);
  const unknown = wanted.filter((name) => !PROGRAMS.some((p) => p.name === name));
  if (unknown.length > 0) usageError(NAME, `unknown program '${unknown[0]}'`);
  const denort = checkDenort();
  const outputDir: string = program.opts().outputDir;
  Deno.mkdirSync(outputDir, { recursive: true });
  for (const { name, entry, permissions } of PROGRAMS.filter((p) => wanted.includes(p.name))) {
    const output = `${outputDir}/${name}`;
    const built = await run([
      Deno.execPath(),
      "compile",
      "--quiet",
      "--no-check",
      ...permissions,
      "-o",
      output,
      entry,
    ]);
    if (!built.success) fatal(NAME, `deno compile ${entry}: ${built.output.trim()}`);
    // A full deno binary as DENORT_BIN ignores the embedded program.
    const probe = await run([output, "--version"]);
    if (probe.output.trim() !== VERSION) {
      Deno.removeSync(output);
      fatal(
        NAME,
        `DENORT_BIN=${denort} is not a denort runtime: ${name} --version printed ` +
          `'${probe.output.trim().split("\n")[0]}' instead of ${VERSION}`,
      );
    }
    console.log(`compile: ${output} (${(Deno.statSync(output).size / 1048576).toFixed(0)} MiB)`);
  }
}
