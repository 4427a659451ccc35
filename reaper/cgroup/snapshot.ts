// The ReleasedCgroup handed to the hook: directory fd, btime and the
// accounting values, read when the cgroup was found empty (spec §3.2 step 1).
// Shared by the daemon and --simulate.
import { close, O_DIRECTORY, O_RDONLY, open } from "../../ffi/fd.ts";
import { AT_FDCWD, statxBirthTime } from "../../ffi/fs.ts";
import type { CgroupSnapshot } from "./fs.ts";
import { type FileReader, readCgroupStats } from "./stats.ts";
import { readSmallFile } from "./files.ts";

/** Absolute directory of a root-relative cgroup path. */
export function cgroupDirectory(root: string, path: string): string {
  return path === "/" ? root : root + path;
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
 * Opens root+path (failure tolerated: dirFd null, files then read by path)
 * and reads btime and the accounting files. The caller owns dirFd.
 */
export function snapshotCgroup(
  root: string,
  path: string,
  options: SnapshotOptions = {},
): CgroupSnapshot {
  const directory = cgroupDirectory(root, path);
  let dirFd: number | null = null;
  try {
    dirFd = open(directory, O_RDONLY | O_DIRECTORY);
  } catch {
    dirFd = null;
  }
  let btime: number | null = null;
  if (dirFd !== null && options.btime !== false) {
    try {
      btime = statxBirthTime(dirFd).btime;
      if (btime === 0) btime = null;
    } catch {
      btime = null;
    }
  }
  const read: FileReader = (name, limit) =>
    dirFd !== null
      ? readSmallFile(dirFd, name, limit)
      : readSmallFile(AT_FDCWD, `${directory}/${name}`, limit);
  const { stats, problems } = readCgroupStats(options.reader ? options.reader(read) : read);
  return {
    cgroup: { path, dirFd, btime, takenAt: Date.now() / 1000, stats },
    problems,
  };
}

/** Closes a snapshot's directory fd (after the deletion attempt). */
export function closeSnapshot(snapshot: CgroupSnapshot): void {
  if (snapshot.cgroup.dirFd !== null) close(snapshot.cgroup.dirFd);
}
