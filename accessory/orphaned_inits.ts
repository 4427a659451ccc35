// Finds the inits a previous run of this daemon instance left behind (the
// rules are in init_marker.ts). Kernel data stays bytes.
import { closeQuietly, fstat } from "../ffi/fd.ts";
import { openNamespace, owningUserNamespace } from "../ffi/namespace.ts";
import { adoptableName, type InitFacts, spareInit } from "./init_marker.ts";

function read(path: string): Uint8Array | null {
  try {
    return Deno.readFileSync(path);
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

const latin1 = new TextDecoder("latin1");

/** The inode of the user namespace owning /proc/PID/ns/KIND, or null. */
function ownerOf(pid: string, kind: "pid" | "ipc"): bigint | null {
  let ns = -1;
  let owner = -1;
  try {
    ns = openNamespace(Number(pid), kind);
    owner = owningUserNamespace(ns);
    return fstat(owner).ino;
  } catch {
    return null;
  } finally {
    closeQuietly(owner);
    closeQuietly(ns);
  }
}

/** The inode of the daemon's own user namespace. */
export function ownUserNamespace(): bigint {
  const fd = openNamespace("self", "user");
  try {
    return fstat(fd).ino;
  } finally {
    closeQuietly(fd);
  }
}

const INIT_PREFIXES = [[0x69, 0x6e, 0x69, 0x74, 0x2d], [0x69, 0x2d]]; // "init-", "i-"

function facts(pid: string, ownUser: bigint): InitFacts | null {
  const comm = read(`/proc/${pid}/comm`);
  if (comm === null || !INIT_PREFIXES.some((p) => p.every((b, i) => comm[i] === b))) return null;
  const environ = read(`/proc/${pid}/environ`);
  const status = read(`/proc/${pid}/status`);
  if (environ === null || status === null) return null;
  let exe: string;
  try {
    exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
  const namespacesOwnedByDaemon = ownerOf(pid, "pid") === ownUser &&
    ownerOf(pid, "ipc") === ownUser;
  return { environ, comm, status: latin1.decode(status), exe, namespacesOwnedByDaemon };
}

export interface OrphanedInits {
  /** pid -> NAME of every init of `instance` to adopt. */
  inits: Map<number, string>;
  /** Spare inits of `instance` (made ahead of demand, no NAME): to be killed. */
  spares: number[];
}

/** Every process that is an init of `instance` (see init_marker.ts). */
export function findOrphanedInits(instance: string, executables: readonly string[]): OrphanedInits {
  const ownUser = ownUserNamespace();
  const found: OrphanedInits = { inits: new Map(), spares: [] };
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    const f = facts(entry.name, ownUser);
    if (f === null) continue;
    const name = adoptableName(f, instance, executables);
    if (name !== null) found.inits.set(Number(entry.name), name);
    else if (spareInit(f, instance, executables)) found.spares.push(Number(entry.name));
  }
  return found;
}

/** NAME if `pid` (still) is an init of `instance`, "" if a spare one, else null. */
export function findOrphanedInitName(
  pid: number,
  instance: string,
  executables: readonly string[],
): string | null {
  const f = facts(String(pid), ownUserNamespace());
  if (f === null) return null;
  return adoptableName(f, instance, executables) ??
    (spareInit(f, instance, executables) ? "" : null);
}
