// A new IPC namespace, as an fd, without moving the daemon.
import { CLONE_NEWIPC, openNamespace, setns, unshare } from "../ffi/namespace.ts";

/** Unshares on the JS thread, keeps a handle, and returns to `ownIpcNamespace`. */
export function createIpcNamespace(ownIpcNamespace: number): number {
  unshare(CLONE_NEWIPC);
  try {
    return openNamespace("thread-self", "ipc");
  } finally {
    setns(ownIpcNamespace, CLONE_NEWIPC);
  }
}
