// The ReleasedCgroup handed to the hook: directory fd, btime and the
// accounting values, read when the cgroup was found empty (spec §3.2 step 1).
// Shared by the daemon and --simulate.
import { close, O_DIRECTORY, O_PATH, O_RDONLY, open } from "../../ffi/fd.ts";
import { statxBirthTime } from "../../ffi/fs.ts";
import { openatAnyLength } from "../../ffi/directory.ts";
import { type ByteString, concatBytes, stringBytes } from "../../ffi/byte_string.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { errorMessage } from "../../shared/log.ts";
import type { CgroupSnapshot } from "./fs.ts";
import { type FileReader, readCgroupStats } from "./stats.ts";
import { isTransient, readSmallFile, TRANSIENT_ERRNOS } from "./files.ts";

const encoder = new TextEncoder();

const GONE: readonly number[] = [Errno.ENOENT, Errno.ENOTDIR, Errno.ENODEV];

/** Absolute directory of a root-relative cgroup path (for messages and simple tools). */
export function cgroupDirectory(root: string, path: string): string {
  return path === "/" ? root : root + path;
}

/** A root-relative cgroup path as a path relative to the root's fd ("." for the root). */
export function relativeBytes(path: ByteString): Uint8Array {
  return path === "/" ? new Uint8Array([0x2e]) : stringBytes(path.slice(1));
}

/** Opens the cgroup2 root as the directory fd every cgroup is opened relative to. */
export function openRoot(root: string): number {
  return open(root, O_PATH | O_DIRECTORY);
}

export interface SnapshotOptions {
  /** false skips statx: the file system has no btime (hasBirthTime()). */
  btime?: boolean;
  /** Wraps the file reader (e.g. to skip files known absent, or reuse a read). */
  reader?: (read: FileReader) => FileReader;
}

/** Whether statx reports btime on the file system of this directory. */
export function hasBirthTime(directory: string): boolean {
  let fd: number;
  try {
    fd = open(directory, O_RDONLY | O_DIRECTORY);
  } catch {
    return true; // unknown: keep asking per cgroup
  }
  try {
    return statxBirthTime(fd).btime !== null;
  } catch {
    return true;
  } finally {
    close(fd);
  }
}

/**
 * Opens rootFd/path and reads btime, the number of subdirectories and the
 * accounting files. The caller owns dirFd. `complete` is false when the
 * directory or a file could not be read because resources were short
 * (EMFILE, ENOMEM, ...): the accounting is then unknown, not zero, and can
 * be read later. Other errors (EACCES) are problems, as before.
 */
export function snapshotCgroup(
  rootFd: number,
  path: ByteString,
  options: SnapshotOptions = {},
): CgroupSnapshot {
  const problems: string[] = [];
  let complete = true;
  let dirFd: number | null = null;
  try {
    const fd = openatAnyLength(rootFd, relativeBytes(path), O_RDONLY | O_DIRECTORY, GONE);
    dirFd = fd < 0 ? null : fd;
  } catch (error) {
    // Resources short: the accounting is unknown, not absent. Anything
    // else (EACCES) would not change: read the files by path instead.
    if (isTransient(error)) {
      complete = false;
      problems.push(`failed to open the directory: ${errorMessage(error)}`);
    }
  }
  let btime: number | null = null;
  let subdirectories: number | null = null;
  if (dirFd !== null) {
    try {
      const st = statxBirthTime(dirFd);
      subdirectories = Math.max(0, st.nlink - 2);
      if (options.btime !== false) btime = st.btime === 0 ? null : st.btime;
    } catch (error) {
      if (isTransient(error)) complete = false;
    }
  }
  const fallback = relativeBytes(path);
  const read: FileReader = (name, limit) => {
    const result = dirFd !== null
      ? readSmallFile(dirFd, name, limit)
      : readSmallFile(rootFd, concatBytes(fallback, encoder.encode("/" + name)), limit);
    if (result.kind === "error" && TRANSIENT_ERRNOS.includes(result.errno ?? 0)) complete = false;
    return result;
  };
  const reading = readCgroupStats(options.reader ? options.reader(read) : read);
  problems.push(...reading.problems);
  return {
    cgroup: { path, dirFd, btime, takenAt: Date.now() / 1000, stats: reading.stats },
    problems,
    complete,
    subdirectories,
  };
}

/** Closes a snapshot's directory fd (after the deletion attempt). */
export function closeSnapshot(snapshot: CgroupSnapshot): void {
  if (snapshot.cgroup.dirFd !== null) close(snapshot.cgroup.dirFd);
}
