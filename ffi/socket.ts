import { libc } from "./libc.ts";
import { check, checkAllowing } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";
import { AF_UNIX, parseSockaddrUn, sockaddrUn } from "./socket_address.ts";

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_TYPE = 3;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_PASSCRED = 16;
export const SO_PEERCRED = 17;
export const SO_ACCEPTCONN = 30;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;

/** A new AF_UNIX socket, always close-on-exec, non-blocking unless told. */
export function unixSocket(type: number, nonBlocking = true): number {
  const flags = SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0);
  return check(libc.socket(AF_UNIX, type | flags, 0), "socket(AF_UNIX)");
}

export function unixSocketPair(type: number, nonBlocking = true): [number, number] {
  const fds = new Int32Array(2);
  const flags = SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0);
  check(libc.socketpair(AF_UNIX, type | flags, 0, new Uint8Array(fds.buffer)), "socketpair");
  return [fds[0], fds[1]];
}

export function bind(fd: number, address: string): void {
  const sa = sockaddrUn(address);
  check(libc.bind(fd, sa, sa.length), `bind(${address})`);
}

export function listen(fd: number, backlog = 256): void {
  check(libc.listen(fd, backlog), `listen(${fd})`);
}

/** accept4 with O_NONBLOCK|O_CLOEXEC; returns null when no connection is pending. */
export function accept(fd: number): number | null {
  const n = checkAllowing(
    libc.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC),
    `accept4(${fd})`,
    [Errno.EAGAIN, Errno.ECONNABORTED, Errno.EINTR],
  );
  return n < 0 ? null : n;
}

/** connect(2); a non-blocking AF_UNIX connect completes at once or fails. */
export function connect(fd: number, address: string): void {
  const sa = sockaddrUn(address);
  check(libc.connect(fd, sa, sa.length), `connect(${address})`);
}

export function shutdown(fd: number, how = 2): void {
  libc.shutdown(fd, how);
}

export function setIntOption(fd: number, level: number, name: number, value: number): void {
  const v = new Int32Array([value]);
  check(libc.setsockopt(fd, level, name, new Uint8Array(v.buffer), 4), `setsockopt(${name})`);
}

/** SO_RCVTIMEO/SO_SNDTIMEO as struct timeval { long tv_sec; long tv_usec; }; 0 = none. */
export function setTimeoutOption(fd: number, name: number, milliseconds: number): void {
  const ms = Math.max(0, Math.round(milliseconds));
  const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
  check(
    libc.setsockopt(fd, SOL_SOCKET, name, new Uint8Array(tv.buffer), 16),
    `setsockopt(${name})`,
  );
}

export function getIntOption(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  check(
    libc.getsockopt(fd, level, name, new Uint8Array(v.buffer), new Uint8Array(len.buffer)),
    `getsockopt(${name})`,
  );
  return v[0];
}

export interface Credentials {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED: who connected (as of connect()). */
export function peerCredentials(fd: number): Credentials {
  const v = new Int32Array(3);
  const len = new Uint32Array([12]);
  check(
    libc.getsockopt(
      fd,
      SOL_SOCKET,
      SO_PEERCRED,
      new Uint8Array(v.buffer),
      new Uint8Array(len.buffer),
    ),
    "getsockopt(SO_PEERCRED)",
  );
  return { pid: v[0], uid: v[1] >>> 0, gid: v[2] >>> 0 };
}

export function socketName(fd: number): string {
  const buf = new Uint8Array(110);
  const len = new Uint32Array([110]);
  check(libc.getsockname(fd, buf, new Uint8Array(len.buffer)), "getsockname");
  return parseSockaddrUn(buf, len[0]);
}

/** getpeername(2) of an AF_UNIX socket: the path it is connected to. */
export function peerName(fd: number): string {
  const buf = new Uint8Array(110);
  const len = new Uint32Array([110]);
  check(libc.getpeername(fd, buf, new Uint8Array(len.buffer)), "getpeername");
  return parseSockaddrUn(buf, len[0]);
}

/** True if fd is a listening socket of the given type (for socket activation). */
export function isListeningSocket(fd: number, type: number): boolean {
  try {
    return getIntOption(fd, SOL_SOCKET, SO_TYPE) === type &&
      getIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN) === 1;
  } catch {
    return false;
  }
}
