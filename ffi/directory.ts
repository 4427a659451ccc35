// Directories read byte-exact and paths of any length opened relative to a
// directory fd. getdents64 hands names over as bytes (Deno.readDirSync
// decodes them lossily, so a name that is not UTF-8 no longer names its
// entry); openat walks a path longer than PATH_MAX in chunks.
import { libc } from "./libc.ts";
import { check, checkAllowing, cstr } from "./sys_error.ts";
import { closeQuietly, O_CLOEXEC, O_DIRECTORY, O_PATH } from "./fd.ts";

export const DT_DIR = 4;

export interface DirectoryEntry {
  /** The name's bytes ("." and ".." are left out). */
  name: Uint8Array;
  /** d_type: DT_DIR etc.; 0 (DT_UNKNOWN) on file systems that do not say. */
  type: number;
}

const DIRENT_BUFFER = 64 * 1024;

/**
 * Every entry of the directory open as fd (O_RDONLY|O_DIRECTORY), read with
 * getdents64 from the fd's current offset to the end.
 */
export function readDirectory(fd: number): DirectoryEntry[] {
  const buf = new Uint8Array(DIRENT_BUFFER);
  const view = new DataView(buf.buffer);
  const entries: DirectoryEntry[] = [];
  for (;;) {
    const n = check(libc.getdents64(fd, buf, BigInt(buf.length)), `getdents64(${fd})`);
    if (n === 0) return entries;
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    for (let off = 0; off < n;) {
      const reclen = view.getUint16(off + 16, true);
      const type = buf[off + 18];
      const raw = buf.subarray(off + 19, off + reclen);
      const end = raw.indexOf(0);
      const name = raw.slice(0, end < 0 ? raw.length : end);
      off += reclen;
      if (name.length === 1 && name[0] === 0x2e) continue;
      if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) continue;
      entries.push({ name, type });
    }
  }
}

/** Longest path handed to one openat (PATH_MAX is 4096 with the NUL). */
export const PATH_CHUNK = 3072;
const SLASH = 0x2f;

/**
 * Splits a relative path into pieces of at most PATH_CHUNK bytes, cut at
 * slashes (a component is at most 255 bytes, so a cut always exists).
 */
export function pathChunks(path: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  while (path.length - start > PATH_CHUNK) {
    let cut = path.lastIndexOf(SLASH, start + PATH_CHUNK);
    if (cut <= start) cut = path.indexOf(SLASH, start + 1); // no slash: let openat refuse it
    if (cut < 0) break;
    chunks.push(path.subarray(start, cut));
    start = cut + 1;
  }
  chunks.push(path.subarray(start));
  return chunks;
}

/**
 * openat(dirfd, path, flags) for a relative path of any length: the leading
 * pieces are opened O_PATH one after the other (at most two fds at a time).
 * Returns the fd, or -errno for the listed errnos; O_CLOEXEC always added.
 */
export function openatAnyLength(
  dirfd: number,
  path: Uint8Array,
  flags: number,
  allowed: readonly number[] = [],
): number {
  const chunks = pathChunks(path);
  let at = dirfd;
  try {
    for (let i = 0; i < chunks.length; i++) {
      const last = i === chunks.length - 1;
      const f = last ? flags : O_PATH | O_DIRECTORY;
      const r = libc.openat(at, cstr(chunks[i]), f | O_CLOEXEC, 0);
      const fd = checkAllowing(r, `openat(${chunks.length > 1 ? "long path" : "path"})`, allowed);
      if (at !== dirfd) closeQuietly(at);
      at = dirfd;
      if (fd < 0) return fd;
      at = fd;
    }
    const fd = at;
    at = dirfd;
    return fd;
  } finally {
    if (at !== dirfd) closeQuietly(at);
  }
}

/**
 * unlinkat(dirfd, path, AT_REMOVEDIR) for a relative path of any length:
 * 0, or -errno for the listed errnos.
 */
export function rmdirAt(dirfd: number, path: Uint8Array, allowed: readonly number[] = []): number {
  const slash = path.lastIndexOf(SLASH);
  const name = slash < 0 ? path : path.subarray(slash + 1);
  let parent = dirfd;
  if (slash >= 0) {
    parent = openatAnyLength(dirfd, path.subarray(0, slash), O_PATH | O_DIRECTORY, allowed);
    if (parent < 0) return parent;
  }
  try {
    return checkAllowing(libc.unlinkat(parent, cstr(name), AT_REMOVEDIR), "unlinkat", allowed);
  } finally {
    if (parent !== dirfd) closeQuietly(parent);
  }
}
const AT_REMOVEDIR = 0x200;
