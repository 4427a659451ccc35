import { libc } from "./libc.ts";
import { O_CLOEXEC } from "./fd.ts";
import { check, checkAllowing, cstr } from "./sys_error.ts";

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;
export const STATX_NLINK = 0x4;
export const STATX_INO = 0x100;
export const STATX_BTIME = 0x800;

/**
 * rmdir(2); returns 0 on success or -errno for the errnos the caller expects
 * (e.g. EBUSY, ENOENT), throwing for others.
 */
export function rmdir(path: string, expected: readonly number[] = []): number {
  return checkAllowing(libc.rmdir(cstr(path)), `rmdir(${path})`, expected);
}

/** remove(3): unlink, or rmdir for a directory. Path bytes end at a NUL, as in C. */
export function remove(path: Uint8Array): void {
  check(libc.remove(cstr(path)), "remove");
}

/** rename(2). */
export function rename(from: Uint8Array, to: Uint8Array): void {
  check(libc.rename(cstr(from), cstr(to)), "rename");
}

/**
 * mkostemp(3) with O_CLOEXEC: creates a new file (mode 0600) named after
 * `template`, whose last six bytes are "XXXXXX"; returns its fd and name.
 */
export function mkostemp(template: string): { fd: number; path: Uint8Array } {
  const buffer = cstr(template);
  const fd = check(libc.mkostemp(buffer, O_CLOEXEC), "mkostemp");
  return { fd, path: buffer.subarray(0, buffer.length - 1) };
}

export function mkdir(path: string, mode = 0o755): void {
  check(libc.mkdir(cstr(path), mode), `mkdir(${path})`);
}

export interface StatxTimes {
  /** Birth time in seconds since the epoch with fraction, or null if unknown. */
  btime: number | null;
  /** stx_nlink (for a cgroup directory: 2 + its subdirectories). */
  nlink: number;
}

/** statx(fd, "", AT_EMPTY_PATH, STATX_BTIME | STATX_NLINK); btime null if the fs has none. */
export function statxBirthTime(fd: number): StatxTimes {
  const buf = new Uint8Array(256);
  const r = libc.statx(fd, cstr(""), AT_EMPTY_PATH, STATX_BTIME | STATX_NLINK, buf);
  check(r, `statx(${fd})`);
  const v = new DataView(buf.buffer);
  const mask = v.getUint32(0, true);
  const nlink = v.getUint32(16, true);
  if ((mask & STATX_BTIME) === 0) return { btime: null, nlink };
  // struct statx_timestamp stx_btime at offset 80: { __s64 tv_sec; __u32 tv_nsec; }
  const sec = Number(v.getBigInt64(80, true));
  const nsec = v.getUint32(88, true);
  return { btime: sec + nsec / 1e9, nlink };
}

/**
 * statx(dirfd, path, flags, STATX_NLINK).stx_nlink; for a directory on most
 * file systems (cgroupfs included) 2 + the number of subdirectories.
 */
export function statxLinkCount(dirfd: number, path: string | Uint8Array, flags = 0): number {
  const buf = new Uint8Array(256);
  const what = typeof path === "string" ? path : "path";
  check(libc.statx(dirfd, cstr(path), flags, STATX_NLINK, buf), `statx(${what})`);
  // struct statx: __u32 stx_mask, stx_blksize; __u64 stx_attributes; __u32 stx_nlink at 16
  return new DataView(buf.buffer).getUint32(16, true);
}

/**
 * fgetxattr(2) into a buffer of maxSize; null if missing or too large. The
 * name may be raw bytes (without the terminating NUL).
 */
export function fgetxattr(
  fd: number,
  name: string | Uint8Array,
  maxSize = 4096,
): Uint8Array | null {
  const buf = new Uint8Array(maxSize);
  const n = Number(libc.fgetxattr(fd, cstr(name), buf, BigInt(maxSize)));
  return n < 0 ? null : buf.slice(0, n);
}

/** fsetxattr(2); throws SysError. */
export function fsetxattr(fd: number, name: string, value: Uint8Array<ArrayBuffer>): void {
  check(libc.fsetxattr(fd, cstr(name), value, BigInt(value.length), 0), `fsetxattr(${name})`);
}

export function mount(
  source: string,
  target: string,
  fstype: string | null,
  flags: number,
): void {
  const r = libc.mount(cstr(source), cstr(target), cstr(fstype ?? ""), BigInt(flags), null);
  check(r, `mount(${source}, ${target})`);
}
