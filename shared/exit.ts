// Exit statuses and the one-line error exits every program uses
// (programs.md): 1 on a runtime failure, 2 on a usage error.
import { writeAllSync } from "./log.ts";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/**
 * A daemon's configuration file is unusable (sysexits EX_CONFIG): the units
 * list it in RestartPreventExitStatus=, so systemd does not restart in a loop.
 */
export const EXIT_CONFIG = 78;

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
