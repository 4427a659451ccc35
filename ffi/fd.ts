import { libc } from "./libc.ts";
import { check, checkAllowing, cstr } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0x800;
export const O_DIRECTORY = 0x10000;
export const O_NOFOLLOW = 0x20000;
export const O_CLOEXEC = 0x80000;
export const O_PATH = 0x200000;
const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
const EFD_NONBLOCK = 0x800;
const EFD_CLOEXEC = 0x80000;

export function close(fd: number): void {
  check(libc.close(fd), `close(${fd})`);
}

/**
 * fcntl(fd, F_DUPFD_CLOEXEC, lowest): a new close-on-exec descriptor of the
 * same file, the lowest free one from `lowest` on.
 */
export function dupCloseOnExec(fd: number, lowest = 0): number {
  const F_DUPFD_CLOEXEC = 1030;
  return check(
    libc.fcntl(fd, F_DUPFD_CLOEXEC, lowest),
    `fcntl(${fd}, F_DUPFD_CLOEXEC, ${lowest})`,
  );
}

/**
 * Grows this process's fd table to `size` entries now. The kernel grows it
 * by doubling as fds are opened, and in a threaded process each growth waits
 * for an RCU grace period (synchronize_rcu in expand_files: 10-30 ms): a
 * daemon that opens fds as it serves stalls at 128, 256, 512, ... fds unless
 * the table is that big already. The table never shrinks. Returns the size
 * reserved (the fd limit may be lower).
 */
export function reserveFdTable(size: number, limit: number): number {
  const fd = dupCloseOnExec(0, Math.max(1, Math.min(size, limit) - 1));
  close(fd);
  return fd + 1;
}

/** Closes and ignores errors: for cleanup paths where the fd may be gone. */
export function closeQuietly(fd: number): void {
  if (fd >= 0) libc.close(fd);
}

/**
 * close(2) on a worker thread, for fds whose close may block (the last
 * reference to a socket lingering with unsent data, a file on FUSE).
 * Settles with close's result; errors are not reported.
 */
export function closeOffThread(fd: number): Promise<number> {
  return fd >= 0 ? libc.close_blocking(fd) : Promise.resolve(0);
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;

/** flock(2); false if LOCK_NB was given and someone else holds the lock. */
export function flock(fd: number, operation: number): boolean {
  return checkAllowing(libc.flock(fd, operation), `flock(${fd})`, [Errno.EWOULDBLOCK]) >= 0;
}

/** read(2); returns null on EAGAIN. */
export function read(fd: number, buf: Uint8Array<ArrayBuffer>, length = buf.length): number | null {
  const n = checkAllowing(libc.read(fd, buf, BigInt(length)), `read(${fd})`, [Errno.EAGAIN]);
  return n < 0 ? null : n;
}

/** pread(2) at an offset; throws on any error. */
export function pread(fd: number, buf: Uint8Array<ArrayBuffer>, offset = 0): number {
  return check(libc.pread(fd, buf, BigInt(buf.length), BigInt(offset)), `pread(${fd})`);
}

/** lseek(2): the new offset. whence: 0 SEEK_SET, 1 SEEK_CUR, 2 SEEK_END. */
export function lseek(fd: number, offset: number, whence: number): number {
  return check(libc.lseek(fd, BigInt(offset), whence), "lseek");
}

/** write(2); returns null on EAGAIN. */
export function write(fd: number, data: Uint8Array<ArrayBuffer>): number | null {
  const n = checkAllowing(libc.write(fd, data, BigInt(data.length)), `write(${fd})`, [
    Errno.EAGAIN,
  ]);
  return n < 0 ? null : n;
}

/** pipe2(2) with O_CLOEXEC; returns [readEnd, writeEnd]. */
export function pipe(flags = 0): [number, number] {
  const fds = new Int32Array(2);
  check(libc.pipe2(new Uint8Array(fds.buffer), flags | O_CLOEXEC), "pipe2");
  return [fds[0], fds[1]];
}

export function eventfd(initval = 0): number {
  return check(libc.eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
}

export function setNonBlocking(fd: number, on = true): void {
  const flags = check(libc.fcntl(fd, F_GETFL, 0), `fcntl(${fd}, F_GETFL)`);
  const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (next !== flags) check(libc.fcntl(fd, F_SETFL, next), `fcntl(${fd}, F_SETFL)`);
}

export function setCloseOnExec(fd: number, on = true): void {
  const flags = check(libc.fcntl(fd, F_GETFD, 0), `fcntl(${fd}, F_GETFD)`);
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (next !== flags) check(libc.fcntl(fd, F_SETFD, next), `fcntl(${fd}, F_SETFD)`);
}

export function isCloseOnExec(fd: number): boolean {
  return (check(libc.fcntl(fd, F_GETFD, 0), `fcntl(${fd}, F_GETFD)`) & FD_CLOEXEC) !== 0;
}

/** open(2); O_CLOEXEC is always added. */
export function open(path: string, flags: number, mode = 0): number {
  return check(libc.open(cstr(path), flags | O_CLOEXEC, mode), `open(${path})`);
}

/** openat(2); O_CLOEXEC is always added. */
export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(libc.openat(dirfd, cstr(path), flags | O_CLOEXEC, mode), `openat(${path})`);
}

/**
 * openat(2) returning -errno for the listed errnos (e.g. ENOENT for a file
 * that is normally optional) instead of throwing; O_CLOEXEC is always added.
 */
export function openatAllowing(
  dirfd: number,
  path: string,
  flags: number,
  allowed: readonly number[],
  mode = 0,
): number {
  const r = libc.openat(dirfd, cstr(path), flags | O_CLOEXEC, mode);
  return checkAllowing(r, `openat(${path})`, allowed);
}

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  mode: number;
}

/** fstat(2): device, inode and mode (x86-64 struct stat layout). */
export function fstat(fd: number): FileIdentity {
  const buf = new Uint8Array(144);
  check(libc.fstat(fd, buf), `fstat(${fd})`);
  const v = new DataView(buf.buffer);
  return {
    dev: v.getBigUint64(0, true),
    ino: v.getBigUint64(8, true),
    mode: v.getUint32(24, true),
  };
}
