// sd_notify(3) and sd_listen_fds(3), without libsystemd.
import { connect, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { sendMessage } from "../ffi/socket_message.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { getpid } from "../ffi/process.ts";

const SD_LISTEN_FDS_START = 3;

/**
 * Sends a state string (e.g. "READY=1") to $NOTIFY_SOCKET, a path or an
 * abstract "@name". Returns false when not running under systemd.
 */
export function notify(state: string): boolean {
  const address = Deno.env.get("NOTIFY_SOCKET");
  if (!address) return false;
  const fd = unixSocket(SOCK_DGRAM, false);
  try {
    connect(fd, address);
    sendMessage(fd, new TextEncoder().encode(state), [], 0x4000 /* MSG_NOSIGNAL */);
    return true;
  } finally {
    closeQuietly(fd);
  }
}

/**
 * The fds passed by socket activation (LISTEN_PID = our pid, LISTEN_FDS = n),
 * or [] when there are none. The variables are removed so that children do
 * not see them.
 */
export function listenFds(): number[] {
  const pid = Number(Deno.env.get("LISTEN_PID"));
  const count = Number(Deno.env.get("LISTEN_FDS"));
  Deno.env.delete("LISTEN_PID");
  Deno.env.delete("LISTEN_FDS");
  Deno.env.delete("LISTEN_FDNAMES");
  if (!Number.isInteger(pid) || pid !== getpid() || !Number.isInteger(count) || count < 1) {
    return [];
  }
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}
