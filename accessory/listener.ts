// The listening sockets: bound by the daemon or passed by systemd.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import { SysError } from "../ffi/sys_error.ts";
import { logWarning } from "../shared/log.ts";
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
    refuseFdPassing(fd);
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
  refuseFdPassing(fd);
  return fd;
}

/** SO_PASSRIGHTS (Linux 6.16): whether a socket accepts SCM_RIGHTS. */
export const SO_PASSRIGHTS = 83;

/**
 * Makes the kernel refuse (EPERM to the sender) fds sent to the listener's
 * connections, which inherit the option: a client's fd never reaches the
 * daemon, so the daemon never has to close one (closing may block, see
 * fd_closer.ts). False on kernels without the option: connection.ts then
 * closes what arrives off the JS thread.
 */
export function refuseFdPassing(fd: number): boolean {
  try {
    setIntOption(fd, SOL_SOCKET, SO_PASSRIGHTS, 0);
    return true;
  } catch (e) {
    if (e instanceof SysError && e.code === "ENOPROTOOPT") return false;
    throw e;
  }
}

/** How long accepting pauses when the process is out of fds (EMFILE/ENFILE). */
const ACCEPT_PAUSE_MS = 100;

/**
 * Accepts every pending connection whenever the listener turns readable. Out
 * of fds, the listener would stay readable and spin: accepting pauses for a
 * moment instead (one log line per pause).
 */
export function watchListener(
  loop: EventLoop,
  fd: number,
  onConnection: (fd: number) => void,
): void {
  const watch = () =>
    loop.add(fd, EPOLLIN, () => {
      try {
        for (let connection; (connection = accept(fd)) !== null;) onConnection(connection);
      } catch (e) {
        if (!(e instanceof SysError && (e.code === "EMFILE" || e.code === "ENFILE"))) throw e;
        logWarning(`${e.message}; not accepting for ${ACCEPT_PAUSE_MS} ms`);
        loop.remove(fd);
        setTimeout(() => {
          if (isOpen(fd)) watch();
        }, ACCEPT_PAUSE_MS);
      }
    });
  watch();
}

function isOpen(fd: number): boolean {
  try {
    return isListeningSocket(fd, SOCK_SEQPACKET);
  } catch {
    return false;
  }
}
