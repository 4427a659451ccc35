// struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; char name[]; }
import { libc } from "./libc.ts";
import { check, checkAllowing, cstr } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";
import { type ByteString, byteString } from "./byte_string.ts";

export const IN_MODIFY = 0x2;
export const IN_ATTRIB = 0x4;
export const IN_MOVED_FROM = 0x40;
export const IN_MOVED_TO = 0x80;
export const IN_CREATE = 0x100;
export const IN_DELETE = 0x200;
export const IN_DELETE_SELF = 0x400;
export const IN_MOVE_SELF = 0x800;
export const IN_Q_OVERFLOW = 0x4000;
export const IN_IGNORED = 0x8000;
export const IN_ONLYDIR = 0x1000000;
export const IN_DONT_FOLLOW = 0x2000000;
export const IN_ISDIR = 0x40000000;
const IN_NONBLOCK = 0x800;
const IN_CLOEXEC = 0x80000;

export interface InotifyEvent {
  wd: number;
  mask: number;
  cookie: number;
  /**
   * The entry's name for events on a watched directory, else "": its bytes
   * as a byte string (ffi/byte_string.ts), exact even when not UTF-8.
   */
  name: ByteString;
}

export function inotifyInit(): number {
  return check(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1");
}

/** The path may be bytes (a name that is not UTF-8). */
export function inotifyAddWatch(fd: number, path: string | Uint8Array, mask: number): number {
  const r = libc.inotify_add_watch(fd, cstr(path), mask);
  return check(r, `inotify_add_watch(${typeof path === "string" ? path : "path"})`);
}

/** Removes a watch; one the kernel already dropped (EINVAL) is not an error. */
export function inotifyRemoveWatch(fd: number, wd: number): void {
  checkAllowing(libc.inotify_rm_watch(fd, wd), `inotify_rm_watch(${wd})`, [Errno.EINVAL]);
}

/** Parses a buffer of inotify events as read(2) returned them. */
export function parseInotifyEvents(buf: Uint8Array, length: number): InotifyEvent[] {
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  const events: InotifyEvent[] = [];
  for (let off = 0; off + 16 <= length;) {
    const nameLength = view.getUint32(off + 12, true);
    const raw = buf.subarray(off + 16, off + 16 + nameLength);
    const end = raw.indexOf(0);
    events.push({
      wd: view.getInt32(off, true),
      mask: view.getUint32(off + 4, true),
      cookie: view.getUint32(off + 8, true),
      name: byteString(end < 0 ? raw : raw.subarray(0, end)),
    });
    off += 16 + nameLength;
  }
  return events;
}
