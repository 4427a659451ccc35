// Command-line conventions shared by every program (programs.md): --help and
// --version, exit 0 on success, 1 on a runtime failure, 2 on a usage error,
// errors as one line naming the option or value at fault.
import { Command, CommanderError } from "commander";
import { VERSION } from "./version.ts";
import { writeAllSync } from "./log.ts";
import { EXIT_USAGE } from "./exit.ts";

export { EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE, fatal, usageError } from "./exit.ts";
export { collect, nonNegativeNumber, positiveInteger } from "./option_values.ts";

export function newProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(VERSION, "--version", "print the version and exit")
    .helpOption("-h, --help", "show this help and exit")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => writeAllSync(Deno.stdout, s),
      writeErr: (s) => writeAllSync(Deno.stderr, s),
      outputError: (s, write) => write(`${name}: ${s.replace(/^error: /, "")}`),
    });
}

/** Parses args (without argv[0]); exits 0 for --help/--version, 2 on usage errors. */
export function parseCommandLine(program: Command, args: string[]): void {
  try {
    program.parse(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) Deno.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
    throw e;
  }
}
