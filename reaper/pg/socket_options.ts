// What node:net cannot do on a connected socket: TCP keepalive timing,
// TCP_USER_TIMEOUT and SO_PEERCRED. Deno does not expose a socket's fd, so we
// find it in /proc/self/fd by the socket's inode (TCP: from /proc/self/net/tcp*
// by its unique local/remote ports; Unix: the new sockets connected to the
// path) and use setsockopt/getsockopt through FFI on our own fd.
import {
  getIntOption,
  peerCredentials,
  peerName,
  setIntOption,
  SOL_SOCKET,
} from "../../ffi/socket.ts";

const SO_KEEPALIVE = 9;
const SOL_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const TCP_USER_TIMEOUT = 18;

/** fd → socket inode for every socket this process has open. */
export function socketFds(): Map<number, string> {
  const result = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${entry.name}`));
      if (m) result.set(Number(entry.name), m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return result;
}

/** Inodes of TCP sockets with these local and remote ports (IPv4 and IPv6 tables). */
export function tcpInodes(tables: string[], localPort: number, remotePort: number): Set<string> {
  const inodes = new Set<string>();
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
  for (const table of tables) {
    for (const line of table.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[1].endsWith(`:${hex(localPort)}`) && f[2].endsWith(`:${hex(remotePort)}`)) {
        inodes.add(f[9]);
      }
    }
  }
  return inodes;
}

function readProc(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** The fd of our TCP socket with these ports, or null. */
export function findTcpFd(localPort: number, remotePort: number): number | null {
  const inodes = tcpInodes(
    [readProc("/proc/self/net/tcp"), readProc("/proc/self/net/tcp6")],
    localPort,
    remotePort,
  );
  for (const [fd, inode] of socketFds()) if (inodes.has(inode)) return fd;
  return null;
}

export interface TcpOptions {
  keepalives: boolean;
  idle: number | null;
  interval: number | null;
  count: number | null;
  userTimeoutMs: number | null;
}

/** libpq's keepalives* and tcp_user_timeout on the connected socket. */
export function applyTcpOptions(fd: number, o: TcpOptions): void {
  setIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, o.keepalives ? 1 : 0);
  if (o.keepalives) {
    if (o.idle !== null) setIntOption(fd, SOL_TCP, TCP_KEEPIDLE, o.idle);
    if (o.interval !== null) setIntOption(fd, SOL_TCP, TCP_KEEPINTVL, o.interval);
    if (o.count !== null) setIntOption(fd, SOL_TCP, TCP_KEEPCNT, o.count);
  }
  if (o.userTimeoutMs !== null) setIntOption(fd, SOL_TCP, TCP_USER_TIMEOUT, o.userTimeoutMs);
}

/** For tests: the options as the kernel has them. */
export function readTcpOptions(fd: number): TcpOptions {
  return {
    keepalives: getIntOption(fd, SOL_SOCKET, SO_KEEPALIVE) !== 0,
    idle: getIntOption(fd, SOL_TCP, TCP_KEEPIDLE),
    interval: getIntOption(fd, SOL_TCP, TCP_KEEPINTVL),
    count: getIntOption(fd, SOL_TCP, TCP_KEEPCNT),
    userTimeoutMs: getIntOption(fd, SOL_TCP, TCP_USER_TIMEOUT),
  };
}

/**
 * The uids of the servers behind the Unix sockets connected to `path` that
 * were opened since `before` (a socketFds() snapshot). Normally exactly our
 * new connection; connections opened concurrently to the same path are
 * checked too, which is only stricter.
 */
export function newPeerUids(before: Map<number, string>, path: string): number[] {
  const uids: number[] = [];
  for (const [fd, inode] of socketFds()) {
    if (before.get(fd) === inode) continue;
    try {
      if (peerName(fd) !== path) continue;
      uids.push(peerCredentials(fd).uid);
    } catch {
      // not a connected Unix socket
    }
  }
  return uids;
}
