// struct epoll_event { uint32_t events; epoll_data_t data; } __attribute__((packed))
// on x86-64: 12 bytes, data at offset 4.
import { libc } from "./libc.ts";
import { check, checkAllowing } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";

export const EPOLLIN = 0x1;
export const EPOLLPRI = 0x2;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
export const EPOLLET = 0x80000000;
export const EPOLL_EVENT_SIZE = 12;
const EPOLL_CLOEXEC = 0x80000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;

export function epollCreate(): number {
  return check(libc.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
}

const ctlBuf = new Uint8Array(EPOLL_EVENT_SIZE);
const ctlView = new DataView(ctlBuf.buffer);

function ctl(epfd: number, op: number, fd: number, events: number, data: bigint, call: string) {
  ctlView.setUint32(0, events >>> 0, true);
  ctlView.setBigUint64(4, data, true);
  check(libc.epoll_ctl(epfd, op, fd, ctlBuf), `${call}(${fd})`);
}

export function epollAdd(epfd: number, fd: number, events: number, data: bigint): void {
  ctl(epfd, EPOLL_CTL_ADD, fd, events, data, "epoll_ctl(ADD)");
}

export function epollModify(epfd: number, fd: number, events: number, data: bigint): void {
  ctl(epfd, EPOLL_CTL_MOD, fd, events, data, "epoll_ctl(MOD)");
}

/** Removes fd; an fd already closed (EBADF) or unknown (ENOENT) is not an error. */
export function epollRemove(epfd: number, fd: number): void {
  checkAllowing(libc.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ctlBuf), `epoll_ctl(DEL)(${fd})`, [
    Errno.EBADF,
    Errno.ENOENT,
  ]);
}

/** Synchronous epoll_wait; returns the number of events (0 on EINTR). */
export function epollWaitNow(epfd: number, buf: Uint8Array<ArrayBuffer>, timeout = 0): number {
  const n = checkAllowing(
    libc.epoll_wait(epfd, buf, buf.length / EPOLL_EVENT_SIZE, timeout),
    "epoll_wait",
    [Errno.EINTR],
  );
  return Math.max(n, 0);
}

/**
 * epoll_wait on a worker thread. errno cannot be read afterwards, so a
 * negative result (EINTR in practice) is reported as 0 events.
 */
export async function epollWaitBlocking(
  epfd: number,
  buf: Uint8Array<ArrayBuffer>,
  timeout = -1,
): Promise<number> {
  const n = await libc.epoll_wait_blocking(epfd, buf, buf.length / EPOLL_EVENT_SIZE, timeout);
  return Math.max(n, 0);
}
