// A new IPC namespace, as an fd, without moving the daemon.
import { CLONE_NEWIPC, openNamespace, unshare } from "../ffi/namespace.ts";
import { returnToOwnNamespace } from "./namespace_return.ts";

/** Unshares on the JS thread, keeps a handle, and returns to `ownIpcNamespace`. */
export function createIpcNamespace(ownIpcNamespace: number): number {
  unshare(CLONE_NEWIPC);
  try {
    return openNamespace("thread-self", "ipc");
  } finally {
    returnToOwnNamespace(ownIpcNamespace, CLONE_NEWIPC);
  }
}
