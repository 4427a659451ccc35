// Marks the inits a daemon starts so that a restarted daemon (after a crash:
// the inits outlive it) finds them again: two environment variables, the
// daemon instance (its listening addresses) and the NAME. Pure.
import { initProcessName } from "./init_name.ts";

export const INSTANCE_VARIABLE = "CM4ALL_SPAWN_ACCESSORY";
export const NAME_VARIABLE = "CM4ALL_SPAWN_NAME";

/** The instance key: the daemon's listening addresses, order-independent. */
export function instanceKey(addresses: string[]): string {
  return [...addresses].sort().join(" ");
}

export function markerEnvironment(instance: string, name: string): string[] {
  return [`${INSTANCE_VARIABLE}=${instance}`, `${NAME_VARIABLE}=${name}`];
}

export interface InitFacts {
  /** /proc/PID/environ */
  environ: string;
  /** /proc/PID/comm without the newline */
  comm: string;
  /** The NSpid: line of /proc/PID/status, e.g. "NSpid:\t1234\t1" */
  nspid: string;
  /** readlink /proc/PID/exe */
  exe: string;
}

/**
 * NAME, if these are the facts of an init of `instance`: both markers, the
 * comm that NAME gives, PID 1 of its own namespace, running `sleepPath`.
 */
export function adoptableName(
  facts: InitFacts,
  instance: string,
  sleepPath: string,
): string | null {
  const vars = facts.environ.split("\0");
  if (vars.length !== 3 || vars[2] !== "") return null; // exactly the two markers
  if (vars[0] !== `${INSTANCE_VARIABLE}=${instance}`) return null;
  if (!vars[1].startsWith(`${NAME_VARIABLE}=`)) return null;
  const name = vars[1].slice(NAME_VARIABLE.length + 1);
  if (name === "" || facts.comm !== initProcessName(name)) return null;
  const ids = facts.nspid.trim().split(/\s+/);
  if (ids[0] !== "NSpid:" || ids.length < 3 || ids[ids.length - 1] !== "1") return null;
  if (facts.exe !== sleepPath) return null;
  return name;
}
