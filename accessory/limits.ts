// What one daemon lets its clients have, and the checks of a request against
// it. Pure: the ERROR message of a refused request, or null.
import type { Credentials } from "../ffi/socket.ts";
import type { Request, UserNamespaceMaps } from "../shared/protocol.ts";

export interface Limits {
  /** Longest NAME in bytes. */
  maxNameLength: number;
  /** Live names (entries in the registry). */
  maxNames: number;
  /** Distinct user namespaces (distinct maps) per name. */
  maxUserNamespaces: number;
  /** Bytes of one uid_map or gid_map. */
  maxMapBytes: number;
  /** Lines of one uid_map or gid_map (the kernel takes at most 340). */
  maxMapLines: number;
  /** Open client connections; further ones are closed at once. */
  maxConnections: number;
  /** Open connections of one uid other than 0 (see connection_quota.ts). */
  maxConnectionsPerUid: number;
  /** Open connections of all refused uids together. */
  maxRefusedConnections: number;
  /** Seconds a refused uid's connection may stay without a request. */
  refusedIdleTimeout: number;
  /** User namespaces that requests of one uid other than 0 have made, over all names. */
  maxUserNamespacesPerUid: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxNameLength: 255,
  maxNames: 10_000,
  maxUserNamespaces: 64,
  maxMapBytes: 4096,
  maxMapLines: 340,
  maxConnections: 1024,
  maxConnectionsPerUid: 64,
  maxRefusedConnections: 64,
  refusedIdleTimeout: 10,
  // Every user namespace the daemon makes counts against root's
  // max_user_namespaces (often some 60,000 to 100,000, shared by the host).
  maxUserNamespacesPerUid: 1024,
};

/** Checks what needs no state: NAME length and map sizes. */
export function checkRequestLimits(request: Request, limits: Limits): string | null {
  if (request.name.length > limits.maxNameLength) {
    return `NAME too long: ${request.name.length} bytes (limit ${limits.maxNameLength})`;
  }
  if (request.user) {
    for (const [file, map] of mapsOf(request.user)) {
      if (map.length > limits.maxMapBytes) {
        return `${file} too large: ${map.length} bytes (limit ${limits.maxMapBytes})`;
      }
      const lines = lineCount(map);
      if (lines > limits.maxMapLines) {
        return `${file} has too many lines: ${lines} (limit ${limits.maxMapLines})`;
      }
    }
  }
  return null;
}

function mapsOf(maps: UserNamespaceMaps): [string, Uint8Array][] {
  return [["uid_map", maps.uidMap], ["gid_map", maps.gidMap]];
}

/** Lines as the kernel counts them: a last line without newline counts too. */
export function lineCount(map: Uint8Array): number {
  let lines = 0;
  for (let i = 0; i < map.length; i++) if (map[i] === 0x0a) lines++;
  if (map.length > 0 && map[map.length - 1] !== 0x0a) lines++;
  return lines;
}

/** Who may request namespaces: uid 0 always, plus the listed uids and gids. */
export interface AccessList {
  uids: ReadonlySet<number>;
  gids: ReadonlySet<number>;
}

export function allowed(access: AccessList, peer: Credentials): boolean {
  return peer.uid === 0 || access.uids.has(peer.uid) || access.gids.has(peer.gid);
}

/**
 * The refusal for a peer: both the per-datagram SCM_CREDENTIALS and the
 * SO_PEERCRED of whoever connected must be allowed (a socket handed on to
 * another process does not carry its opener's rights, nor the reverse).
 */
export function checkPeer(
  access: AccessList,
  message: Credentials | undefined,
  connector: Credentials | undefined,
): string | null {
  const peers = [message, connector].filter((c): c is Credentials => c !== undefined);
  if (peers.length === 0) return "Permission denied: no peer credentials";
  for (const peer of peers) {
    if (!allowed(access, peer)) {
      return `Permission denied: uid ${peer.uid} may not request namespaces`;
    }
  }
  return null;
}
