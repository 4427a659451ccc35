// Marks the inits a daemon starts so that a restarted daemon (after a crash:
// the inits outlive it) finds them again, and decides which processes are
// such inits. Pure.
//
// The adoption contract. A process is adopted as NAME's init only if
// - the kernel vouches that the daemon's kind made it: every uid of the
//   process (real, effective, saved, filesystem) is 0, and its PID and IPC
//   namespaces are owned by the daemon's own user namespace (NS_GET_USERNS,
//   compared by inode). Nobody without CAP_SYS_ADMIN over that user
//   namespace (root of the host, for the real daemon) can make such a
//   process: an unprivileged `unshare -Urpif` owns its namespaces through a
//   user namespace of its own and is uid 65534/1000/... seen from here;
// - and it carries the markers, exactly: its environment is the two
//   variables below (instance, NAME) and nothing else, its comm is the init
//   name of NAME byte for byte, it is PID 1 of its PID namespace, and it
//   executes the sleep binary (perl factory) or the pool program (whose
//   inits write NAME into a placeholder: zero bytes may follow it).
// Inits made ahead of demand (a pool) are covered by the same rule as long
// as they are made the same way (by root, namespaces owned by the daemon's
// user namespace) and carry the markers of the NAME they end up serving; a
// spare init with no NAME yet carries an empty NAME, and then the daemon
// only kills it (see spareInit()).
import { initProcessName } from "./init_name.ts";
import { commIs } from "./process_comm.ts";

export const INSTANCE_VARIABLE = "CM4ALL_SPAWN_ACCESSORY";
export const NAME_VARIABLE = "CM4ALL_SPAWN_NAME";
/**
 * Fills the NAME marker of a pool program's init that has no NAME yet
 * (pool_program.ts): not a byte a NAME may contain.
 */
export const NAME_FILLER = "\x01";

/** The instance key: the daemon's listening addresses, order-independent. */
export function instanceKey(addresses: string[]): string {
  return [...addresses].sort().join(" ");
}

export function markerEnvironment(instance: string, name: string): string[] {
  return [`${INSTANCE_VARIABLE}=${instance}`, `${NAME_VARIABLE}=${name}`];
}

export interface InitFacts {
  /** /proc/PID/environ, the bytes. */
  environ: Uint8Array;
  /** /proc/PID/comm, the bytes (with the kernel's newline). */
  comm: Uint8Array;
  /** /proc/PID/status, decoded byte for byte (latin1): only ASCII lines are read. */
  status: string;
  /** readlink /proc/PID/exe */
  exe: string;
  /**
   * Whether the PID and the IPC namespace of the process are owned by the
   * daemon's own user namespace (false when they could not be checked).
   */
  namespacesOwnedByDaemon: boolean;
}

/** The values of a "Key:\tv1\tv2..." line of /proc/PID/status, or null. */
function statusField(status: string, key: string): string[] | null {
  const line = status.split("\n").find((l) => l.startsWith(`${key}:`));
  return line === undefined ? null : line.slice(key.length + 1).trim().split(/\s+/);
}

/** True if the kernel vouches that the daemon's kind (root, its user namespace) made it. */
export function madeByDaemon(facts: InitFacts): boolean {
  const uids = statusField(facts.status, "Uid");
  if (uids === null || uids.length !== 4 || uids.some((uid) => uid !== "0")) return false;
  return facts.namespacesOwnedByDaemon;
}

const ascii = new TextDecoder("latin1");

/**
 * The two marker values, if the environment is exactly the two markers. An
 * init of the pool program wrote its NAME into a placeholder: zero bytes
 * follow it, and a placeholder still full of filler is an empty NAME.
 */
function markers(environ: Uint8Array): { instance: string; name: string } | null {
  if (environ.some((b) => b >= 0x80)) return null; // ours are 7-bit ASCII
  const vars = ascii.decode(environ).split("\0");
  if (vars.length < 3 || vars.slice(2).some((v) => v !== "")) return null; // exactly the two markers
  if (!vars[0].startsWith(`${INSTANCE_VARIABLE}=`)) return null;
  if (!vars[1].startsWith(`${NAME_VARIABLE}=`)) return null;
  const value = vars[1].slice(NAME_VARIABLE.length + 1);
  const filler = value.split(NAME_FILLER).length - 1;
  if (filler > 0 && filler < value.length) return null; // half written: not an init of ours
  return {
    instance: vars[0].slice(INSTANCE_VARIABLE.length + 1),
    name: filler > 0 ? "" : value,
  };
}

function isOwnInit(facts: InitFacts, instance: string, executables: readonly string[]): boolean {
  if (!madeByDaemon(facts)) return false;
  const ids = statusField(facts.status, "NSpid");
  if (ids === null || ids.length < 2 || ids[ids.length - 1] !== "1") return false;
  if (!executables.includes(facts.exe)) return false;
  return markers(facts.environ)?.instance === instance;
}

/**
 * NAME, if these are the facts of an init of `instance` (see the contract
 * above): made by the daemon's kind, both markers, the comm NAME gives
 * exactly, PID 1 of its own namespace, running one of `executables` (the
 * sleep binary an init of the perl factory executes, the pool program).
 */
export function adoptableName(
  facts: InitFacts,
  instance: string,
  executables: readonly string[],
): string | null {
  if (!isOwnInit(facts, instance, executables)) return null;
  const name = markers(facts.environ)!.name;
  if (name === "" || !commIs(facts.comm, initProcessName(name))) return null;
  return name;
}

/** True for a spare init of `instance` (made ahead of demand, empty NAME): to be killed. */
export function spareInit(
  facts: InitFacts,
  instance: string,
  executables: readonly string[],
): boolean {
  return isOwnInit(facts, instance, executables) && markers(facts.environ)!.name === "";
}
