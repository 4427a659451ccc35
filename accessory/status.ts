// What the accessory daemon shows of its state: systemd's STATUS= line and
// the control socket's answers. The formatting is pure; the collecting
// functions only read the registry.
import { fstat } from "../ffi/fd.ts";
import type {
  AccessoryStatus,
  NameDetail,
  NameInfo,
  UserNamespaceInfo,
} from "../shared/control_protocol.ts";
import { count, groupDigits } from "../shared/number_format.ts";
import type { NameEntry } from "./name_entry.ts";
import type { NamespaceRegistry } from "./namespace_registry.ts";
import type { RequestHandler } from "./request_handler.ts";

/** "12 names (12 PID, 3 user namespaces), 4 leases; 1,203,344 requests, 0 refused" */
export function formatAccessoryStatus(s: AccessoryStatus): string {
  return `${count(s.names, "name")} (${groupDigits(s.pidNamespaces)} PID, ` +
    `${count(s.userNamespaces, "user namespace")}), ${count(s.leases, "lease")}; ` +
    `${count(s.requests, "request")}, ${groupDigits(s.refused)} refused`;
}

export interface AccessorySources {
  registry: NamespaceRegistry;
  handler: RequestHandler;
  connections: number;
  /** performance.now() at start. */
  startedAt: number;
}

export function accessoryStatus(sources: AccessorySources): AccessoryStatus {
  let pid = 0, user = 0, leases = 0;
  for (const entry of sources.registry.entries()) {
    if (entry.hasPidNamespace) pid++;
    user += entry.userNamespaces;
    leases += entry.leaseCount;
  }
  return {
    names: sources.registry.size,
    pidNamespaces: pid,
    userNamespaces: user,
    leases,
    requests: sources.handler.requests,
    refused: sources.handler.refused,
    connections: sources.connections,
    namespaceTtlSeconds: sources.registry.ttl / 1000,
    uptimeSeconds: Math.floor((performance.now() - sources.startedAt) / 1000),
  };
}

function inode(fd: number | null): number | null {
  if (fd === null) return null;
  try {
    return Number(fstat(fd).ino);
  } catch {
    return null;
  }
}

export function nameDetail(entry: NameEntry, now: number): NameDetail {
  const view = entry.inspect();
  const remaining = entry.lifetime.remaining(now);
  const users: UserNamespaceInfo[] = view.users.map((u) => ({
    inode: inode(u.fd),
    uidMap: u.uidMap,
    gidMap: u.gidMap,
  }));
  return {
    name: entry.name,
    namespaces: {
      ipc: inode(view.ipcFd),
      pid: inode(view.pidFd),
      user: users.flatMap((u) => u.inode === null ? [] : [u.inode]),
    },
    initPid: view.initPid,
    leases: view.leases,
    userNamespaces: users.length,
    secondsSinceLastRequest: Math.max(0, Math.floor((now - entry.lifetime.lastRequest) / 1000)),
    secondsUntilExpiry: Number.isFinite(remaining)
      ? Math.max(0, Math.ceil(remaining / 1000))
      : null,
    userNamespaceMaps: users,
  };
}

export function nameInfo(entry: NameEntry, now: number): NameInfo {
  const { userNamespaceMaps: _, ...info } = nameDetail(entry, now);
  return info;
}
