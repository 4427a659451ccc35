// The daemon's private directory for the init symlinks. Its name follows
// from the instance key, so that a daemon killed with SIGKILL (which cannot
// remove it) leaves nothing that piles up: the next start of the same
// instance finds it, empties it and uses it again. An flock held for the
// daemon's life tells a directory in use from a leftover.
import { sha256Hex } from "../shared/sha256.ts";
import {
  closeQuietly,
  flock,
  LOCK_EX,
  LOCK_NB,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_RDONLY,
  open,
} from "../ffi/fd.ts";

export const PREFIX = "cm4all-spawn-accessory.";

/** The directory name of an instance: PREFIX and 16 hex digits of its SHA-256. */
export function runtimeDirectoryName(instance: string): string {
  return PREFIX + sha256Hex(instance).slice(0, 16);
}

export interface RuntimeDirectory {
  path: string;
  /** Holds the flock; open (close-on-exec) while the daemon runs. */
  lock: number;
  /** A leftover of an earlier run was emptied and taken over. */
  reused: boolean;
}

/**
 * Claims `base`/runtimeDirectoryName(instance), reusing a leftover; falls
 * back to a fresh random name in `base` when that one is locked by a live
 * daemon or is not a private directory of this uid (someone else made it).
 */
export function claimRuntimeDirectory(base: string, instance: string): RuntimeDirectory {
  const path = `${base}/${runtimeDirectoryName(instance)}`;
  let reused = false;
  try {
    Deno.mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    reused = true;
  }
  const lock = lockIfPrivate(path);
  if (lock !== null) {
    if (reused) {
      for (const entry of Deno.readDirSync(path)) {
        Deno.removeSync(`${path}/${entry.name}`, { recursive: true });
      }
    }
    return { path, lock, reused };
  }
  const fresh = Deno.makeTempDirSync({ dir: base, prefix: PREFIX });
  return { path: fresh, lock: lockIfPrivate(fresh) ?? -1, reused: false };
}

/** An fd holding the flock of `path` if it is a directory of ours, mode 0700, not in use. */
function lockIfPrivate(path: string): number | null {
  let fd = -1;
  try {
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    const info = Deno.statSync(`/proc/self/fd/${fd}`);
    if (info.uid !== Deno.uid() || (info.mode! & 0o077) !== 0) throw new Error("not private");
    if (!flock(fd, LOCK_EX | LOCK_NB)) throw new Error("in use");
    return fd;
  } catch {
    closeQuietly(fd);
    return null;
  }
}
