// Command-line conventions shared by every program (programs.md): --help and
// --version, exit 0 on success, 1 on a runtime failure, 2 on a usage error,
// errors as one line naming the option or value at fault.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { VERSION } from "./version.ts";
import { writeAllSync } from "./log.ts";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/**
 * A daemon's configuration file is unusable (sysexits EX_CONFIG): the units
 * list it in RestartPreventExitStatus=, so systemd does not restart in a loop.
 */
export const EXIT_CONFIG = 78;

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

/** Prints "name: message" and exits with status 2. */
export function usageError(name: string, message: string): never {
  writeAllSync(Deno.stderr, `${name}: ${message}\n`);
  Deno.exit(EXIT_USAGE);
}

/** Prints "name: message" and exits with status 1. */
export function fatal(name: string, message: string): never {
  writeAllSync(Deno.stderr, `${name}: ${message}\n`);
  Deno.exit(EXIT_FAILURE);
}

/** An option parser for non-negative numbers, e.g. `--namespace-ttl 60`. */
export function nonNegativeNumber(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${option} wants a non-negative number, not '${value}'`);
    }
    return n;
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
