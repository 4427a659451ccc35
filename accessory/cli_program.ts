// The accessory's command line through commander: --help, --version and the
// error messages (loaded only when options.ts's own parser passes).
import { Command } from "commander";
import { newProgram, parseCommandLine } from "../shared/cli.ts";
import { type AccessoryOptions, DESCRIPTION, NAME, OPTIONS } from "./options.ts";

export function accessoryProgram(): Command {
  const program = newProgram(NAME, DESCRIPTION);
  for (const o of OPTIONS) {
    if (o.default !== undefined) program.option(o.flags, o.description, o.parse, o.default);
    else program.option(o.flags, o.description, o.parse);
  }
  return program;
}

/** Parses with commander: exits 0 after --help or --version, 2 on a usage error. */
export function parseWithCommander(args: string[]): AccessoryOptions {
  const program = accessoryProgram();
  parseCommandLine(program, args);
  return program.opts<AccessoryOptions>();
}
