// `up` and `down` of one named network namespace with its veth pair.
import { execute, succeeds } from "./command.ts";
import { upPlan } from "./plan.ts";
import { runAllOrNothing } from "./transaction.ts";

/** Where ip(8) keeps named network namespaces (NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = "/run/netns";
export const DEFAULT_SETUP_DIR = "/etc/cm4all/spawn/netns/setup.d";

export class NetnsError extends Error {
  override name = "NetnsError";
}

export function netnsExists(name: string): boolean {
  try {
    Deno.statSync(`${NETNS_RUN_DIR}/${name}`);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export function linkExists(name: string): Promise<boolean> {
  return succeeds(["ip", "link", "show", "dev", name]);
}

/** Fails unless path is an executable regular file (checked before anything is created). */
function checkSetupScript(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound
      ? "No such file or directory"
      : (e as Error).message;
    throw new NetnsError(`setup script ${path}: ${reason}`);
  }
  if (!info.isFile) throw new NetnsError(`setup script ${path}: not a regular file`);
  if (((info.mode ?? 0) & 0o111) === 0) {
    throw new NetnsError(`setup script ${path}: not executable`);
  }
}

/**
 * Creates the namespace, the veth pair and net0, and runs the setup script
 * inside; on any failure undoes all of it and throws.
 */
export async function up(name: string, setupDir: string, signal?: AbortSignal): Promise<void> {
  const script = `${setupDir.replace(/\/+$/, "")}/${name}`;
  checkSetupScript(script);
  const outcome = await runAllOrNothing(upPlan(name, script), execute, signal);
  if (outcome.error === undefined) return;
  const undo = outcome.undoErrors.length > 0
    ? ` (undo failed too: ${outcome.undoErrors.join("; ")})`
    : outcome.undone > 0
    ? " (everything done so far was undone)"
    : "";
  throw new NetnsError(outcome.error + undo);
}

/** Deletes the link, then the namespace; what is already gone is fine. */
export async function down(name: string): Promise<void> {
  const linkError = await execute(["ip", "link", "delete", name], { inheritOutput: false });
  if (linkError !== undefined && await linkExists(name)) throw new NetnsError(linkError);
  const nsError = await execute(["ip", "netns", "delete", name], { inheritOutput: false });
  if (nsError !== undefined && netnsExists(name)) throw new NetnsError(nsError);
}
