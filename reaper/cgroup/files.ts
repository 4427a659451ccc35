// Small-file reads for cgroupfs with one reusable buffer: openat + read + close.
import { closeQuietly, O_RDONLY, read } from "../../ffi/fd.ts";
import { openatAnyLength } from "../../ffi/directory.ts";
import { Errno } from "../../ffi/errno_names.ts";
import { errorMessage } from "../../shared/log.ts";
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
    return { kind: "error", message: errorMessage(error) };
  }
  if (fd < 0) return { kind: "missing" };
  try {
    const n = read(fd, buffer, Math.min(limit, buffer.length));
    return { kind: "ok", text: n === null ? "" : decoder.decode(buffer.subarray(0, n)) };
  } catch (error) {
    return { kind: "error", message: errorMessage(error) };
  } finally {
    closeQuietly(fd);
  }
}
