// Small-file reads for cgroupfs with one reusable buffer: openat + read + close.
import { closeQuietly, O_RDONLY, read } from "../../ffi/fd.ts";
import { openatAnyLength } from "../../ffi/directory.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { errorMessage } from "../../shared/log.ts";
import { SysError } from "../../ffi/sys_error.ts";
import type { FileResult } from "./stats.ts";
import { MULTI_LINE_LIMIT } from "./stats.ts";

const buffer = new Uint8Array(MULTI_LINE_LIMIT);
const decoder = new TextDecoder();
const encoder = new TextEncoder();
// A cgroup removed while we read answers ENODEV; both mean "not there".
const ABSENT: readonly number[] = [Errno.ENOENT, Errno.ENODEV, Errno.ENOTDIR];

/**
 * Reads at most `limit` bytes from offset 0 of dirFd/path (a relative path
 * of any length; dirFd may be AT_FDCWD with an absolute one). Missing files
 * are "missing", not errors. The text is ASCII (accounting files).
 */
export function readSmallFile(
  dirFd: number,
  path: string | Uint8Array,
  limit: number,
): FileResult {
  let fd: number;
  try {
    const bytes = typeof path === "string" ? encoder.encode(path) : path;
    fd = openatAnyLength(dirFd, bytes, O_RDONLY, ABSENT);
  } catch (error) {
    return failed(error);
  }
  if (fd < 0) return { kind: "missing" };
  try {
    const n = read(fd, buffer, Math.min(limit, buffer.length));
    return { kind: "ok", text: n === null ? "" : decoder.decode(buffer.subarray(0, n)) };
  } catch (error) {
    return failed(error);
  } finally {
    closeQuietly(fd);
  }
}

function failed(error: unknown): FileResult {
  const errno = error instanceof SysError ? error.errno : undefined;
  return { kind: "error", message: errorMessage(error), errno };
}

/**
 * Errors that say "not now" rather than "never": resources short. A read
 * failing so is tried again later; another error (EACCES) would fail again.
 */
export const TRANSIENT_ERRNOS: readonly number[] = [
  Errno.EMFILE,
  Errno.ENFILE,
  Errno.ENOMEM,
  Errno.ENOBUFS,
  Errno.EAGAIN,
  Errno.EINTR,
  Errno.ENOSPC,
];

export function isTransient(error: unknown): boolean {
  return error instanceof SysError && TRANSIENT_ERRNOS.includes(error.errno);
}
