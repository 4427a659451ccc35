// The listening sockets: bound by the daemon or passed by systemd.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import {
  accept,
  bind,
  isListeningSocket,
  listen,
  setIntOption,
  SO_PASSCRED,
  SOCK_SEQPACKET,
  SOL_SOCKET,
  unixSocket,
} from "../ffi/socket.ts";

export const DEFAULT_ADDRESS = "@cm4all-spawn";

/**
 * A SOCK_SEQPACKET listener on "@abstract" or a path, with SO_PASSCRED so every
 * datagram carries the peer's credentials. A stale socket file is replaced.
 */
export function bindListener(address: string): number {
  const fd = unixSocket(SOCK_SEQPACKET);
  try {
    if (!address.startsWith("@")) removeStaleSocket(address);
    bind(fd, address);
    setIntOption(fd, SOL_SOCKET, SO_PASSCRED, 1);
    listen(fd, 4096);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Takes over a socket-activated fd; it must be a listening SOCK_SEQPACKET socket. */
export function adoptListener(fd: number): number {
  if (!isListeningSocket(fd, SOCK_SEQPACKET)) {
    throw new Error(`socket activation: fd ${fd} is not a listening SOCK_SEQPACKET socket`);
  }
  setNonBlocking(fd);
  setCloseOnExec(fd);
  setIntOption(fd, SOL_SOCKET, SO_PASSCRED, 1);
  return fd;
}

/** Accepts every pending connection whenever the listener turns readable. */
export function watchListener(
  loop: EventLoop,
  fd: number,
  onConnection: (fd: number) => void,
): void {
  loop.add(fd, EPOLLIN, () => {
    for (let connection; (connection = accept(fd)) !== null;) onConnection(connection);
  });
}
