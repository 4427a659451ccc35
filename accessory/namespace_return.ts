// Going back to the daemon's own namespace after unshare must not fail: a JS
// thread left in a namespace it unshared would put every later init and
// helper in the wrong place. If it ever does, stop at once (and let systemd
// restart the daemon) rather than serve wrong namespaces.
import { setns } from "../ffi/namespace.ts";
import { errorMessage, logError } from "../shared/log.ts";

export function returnToOwnNamespace(ownNamespace: number, nstype: number): void {
  try {
    setns(ownNamespace, nstype);
  } catch (e) {
    logError(`cannot return to the daemon's own namespace: ${errorMessage(e)}; exiting`);
    Deno.exit(1);
  }
}
