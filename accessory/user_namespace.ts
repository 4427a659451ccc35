// A user namespace with the requested uid_map/gid_map.
//
// unshare(CLONE_NEWUSER) is refused (EINVAL) in a threaded process such as
// Deno, so a helper child does it: `unshare --user cat`. A one-byte echo
// through cat tells that unshare has happened; the daemon then opens
// /proc/HELPER/ns/user and writes the maps from the parent namespace (where
// it is privileged) before the helper is dismissed. The open fd keeps the
// namespace alive.
import type { UserNamespaceMaps } from "../shared/protocol.ts";
import { closeQuietly, O_WRONLY, open, write } from "../ffi/fd.ts";
import { openNamespace } from "../ffi/namespace.ts";
import { failed, NamespaceError } from "./namespace_error.ts";

export const UNSHARE = "/usr/bin/unshare";
export const CAT = "/usr/bin/cat";

/** Helpers still running, so that shutdown can kill them. */
export type HelperSet = Set<Deno.ChildProcess>;

export async function createUserNamespace(
  maps: UserNamespaceMaps,
  helpers: HelperSet,
): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    // No parent-death signal needed: if the daemon dies, cat reads EOF and exits.
    child = new Deno.Command(UNSHARE, {
      args: ["--user", CAT],
      clearEnv: true,
      cwd: "/", // do not pin the daemon's working directory
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (e) {
    throw failed("start the user namespace helper", e);
  }
  helpers.add(child);
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  try {
    await writer.write(new Uint8Array([0x2e]));
    const echo = await reader.read();
    if (echo.done) {
      throw new NamespaceError("Failed to create user namespace: the helper exited early");
    }
    let fd: number;
    try {
      fd = openNamespace(child.pid, "user");
    } catch (e) {
      throw failed("open the user namespace", e);
    }
    try {
      if (maps.uidMap.length > 0) writeMap(child.pid, "uid_map", maps.uidMap);
      if (maps.gidMap.length > 0) writeMap(child.pid, "gid_map", maps.gidMap);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    return fd;
  } catch (e) {
    throw failed("create user namespace", e);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    reader.cancel().catch(() => {});
    writer.close().catch(() => {});
    child.status.catch(() => {}).finally(() => helpers.delete(child));
  }
}

/** One write(2) of the whole map, as the kernel requires. */
function writeMap(pid: number, file: "uid_map" | "gid_map", map: Uint8Array): void {
  let fd = -1;
  try {
    fd = open(`/proc/${pid}/${file}`, O_WRONLY);
    write(fd, map.slice());
  } catch (e) {
    throw failed(`write ${file}`, e);
  } finally {
    closeQuietly(fd);
  }
}
