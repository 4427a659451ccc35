// The daemons' read-only control socket, used by cm4all-spawnctl (README,
// "Control socket"). A SOCK_STREAM AF_UNIX socket at a path, root only: the
// client sends one request, a JSON object on one line; the daemon answers
// with one JSON object on one line and closes. Every answer carries
// `version` (this protocol's), `daemon` ("accessory" or "reaper") and `pid`;
// a failed request carries `error` instead of the data. Pure.

export const CONTROL_PROTOCOL_VERSION = 1;
/** A request line longer than this is refused. */
export const MAX_REQUEST_BYTES = 4096;

export type DaemonKind = "accessory" | "reaper";

export const DEFAULT_CONTROL_PATHS: Record<DaemonKind, string> = {
  accessory: "/run/cm4all-spawn-accessory/control",
  reaper: "/run/cm4all-spawn-reaper/control",
};

/** `control` in the first directory of $RUNTIME_DIRECTORY (systemd), else the fixed default. */
export function defaultControlPath(
  daemon: DaemonKind,
  runtimeDirectory = Deno.env.get("RUNTIME_DIRECTORY"),
): string {
  const first = runtimeDirectory?.split(":")[0];
  return first ? `${first.replace(/\/+$/, "")}/control` : DEFAULT_CONTROL_PATHS[daemon];
}

/**
 * Commands: both daemons answer "status"; the accessory "names" and "name"
 * (with `name`), the reaper "reaper" (with `all` for every cgroup).
 */
export type ControlCommand = "status" | "names" | "name" | "reaper";
const COMMANDS: readonly string[] = ["status", "names", "name", "reaper"];

export interface ControlRequest {
  version: number;
  command: ControlCommand;
  name?: string;
  all?: boolean;
}

export class ControlProtocolError extends Error {}

export function encodeRequest(request: Omit<ControlRequest, "version">): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ version: CONTROL_PROTOCOL_VERSION, ...request }) + "\n",
  );
}

/** Parses a request line (without "\n"); throws ControlProtocolError naming what is wrong. */
export function parseRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ControlProtocolError("request is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ControlProtocolError("request is not a JSON object");
  }
  const r = value as Record<string, unknown>;
  if (r.version !== CONTROL_PROTOCOL_VERSION) {
    throw new ControlProtocolError(
      `protocol version ${
        JSON.stringify(r.version)
      } (this daemon speaks ${CONTROL_PROTOCOL_VERSION})`,
    );
  }
  if (typeof r.command !== "string" || !COMMANDS.includes(r.command)) {
    throw new ControlProtocolError(`unknown command ${JSON.stringify(r.command)}`);
  }
  if (r.name !== undefined && typeof r.name !== "string") {
    throw new ControlProtocolError("'name' must be a string");
  }
  if (r.command === "name" && typeof r.name !== "string") {
    throw new ControlProtocolError("command 'name' needs 'name'");
  }
  if (r.all !== undefined && typeof r.all !== "boolean") {
    throw new ControlProtocolError("'all' must be true or false");
  }
  return r as unknown as ControlRequest;
}

export interface ResponseHeader {
  version: number;
  daemon: DaemonKind;
  pid: number;
}

export interface ErrorResponse extends ResponseHeader {
  error: string;
}

export function encodeResponse(
  daemon: DaemonKind,
  body: Record<string, unknown>,
  pid = Deno.pid,
): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ version: CONTROL_PROTOCOL_VERSION, daemon, pid, ...body }) + "\n",
  );
}

/** Parses an answer; throws ControlProtocolError for anything but a versioned object. */
export function parseResponse(text: string): ResponseHeader & Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ControlProtocolError(
      text.length === 0
        ? "empty answer"
        : `answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ControlProtocolError("answer is not a JSON object");
  }
  const r = value as Record<string, unknown>;
  if (r.version !== CONTROL_PROTOCOL_VERSION) {
    throw new ControlProtocolError(
      `answer has protocol version ${JSON.stringify(r.version)}, not ${CONTROL_PROTOCOL_VERSION}`,
    );
  }
  if (r.daemon !== "accessory" && r.daemon !== "reaper") {
    throw new ControlProtocolError(`answer from unknown daemon ${JSON.stringify(r.daemon)}`);
  }
  return r as ResponseHeader & Record<string, unknown>;
}

// ---- accessory

export interface AccessoryStatus {
  names: number;
  pidNamespaces: number;
  userNamespaces: number;
  leases: number;
  /** Requests answered since start, and of them refused (access or limits). */
  requests: number;
  refused: number;
  connections: number;
  namespaceTtlSeconds: number;
  uptimeSeconds: number;
}

export interface NameInfo {
  name: string;
  /** Inode numbers (as `ls -l /proc/PID/ns` shows them), null when the name has none. */
  namespaces: { ipc: number | null; pid: number | null; user: number[] };
  initPid: number | null;
  leases: number;
  /** User namespaces (distinct uid/gid map pairs). */
  userNamespaces: number;
  secondsSinceLastRequest: number;
  /** null while held by a lease or a request in progress ("leased"). */
  secondsUntilExpiry: number | null;
}

export interface UserNamespaceInfo {
  inode: number | null;
  uidMap: string;
  gidMap: string;
}

export interface NameDetail extends NameInfo {
  userNamespaceMaps: UserNamespaceInfo[];
}

export interface StatusResponse<S> extends ResponseHeader {
  status: S;
}
export interface NamesResponse extends ResponseHeader {
  status: AccessoryStatus;
  names: NameInfo[];
}
export interface NameResponse extends ResponseHeader {
  name: NameDetail;
}

// ---- reaper

export type PgState = "connecting" | "connected" | "unreachable" | "closed";

export interface PgConnectionInfo {
  target: string;
  state: PgState;
  /** Seconds since the outage began (state "unreachable"). */
  unreachableSeconds: number | null;
  queriesWaiting: number;
  lastError: string | null;
}

export interface LuaInfo {
  /** A script is loaded (else cgroups are only logged and deleted). */
  loaded: boolean;
  /** Handlers, reloads and listen callbacks running or waiting in a JS call (db:execute). */
  running: number;
  /** Handlers parked in a plain coroutine.yield(). */
  parked: number;
  errors: number;
  lastError: string | null;
}

export interface AwaitingDeletion {
  path: string;
  /** "queued": reaped, deletion follows shortly; "busy": rmdir said EBUSY, retried later. */
  reason: "queued" | "busy";
  busyRetries: number;
}

export interface ReaperStatus {
  scopes: number;
  cgroupsWatched: number;
  awaitingDeletion: number;
  reaped: number;
  deleted: number;
  rescans: number;
  lua: LuaInfo;
  postgresql: PgConnectionInfo[];
  uptimeSeconds: number;
}

export interface ReaperResponse extends ResponseHeader {
  status: ReaperStatus;
  scopes: { path: string; present: boolean }[];
  awaitingDeletion: AwaitingDeletion[];
  /** Only with `all`. */
  cgroups?: { path: string; everPopulated: boolean }[];
}
