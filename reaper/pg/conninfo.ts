// libpq connection strings (key=value and postgresql:// URIs), PG* environment
// variables and libpq's defaults, resolved into the parameters our client
// uses. Pure: the environment and the OS user name are passed in.

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
const SSL_MODES: readonly SslMode[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

/** Where one connection attempt goes. */
export type PgTarget =
  | { kind: "unix"; path: string; port: number }
  /** serverName: the host name TLS verifies (differs from hostname with hostaddr). */
  | { kind: "tcp"; hostname: string; port: number; serverName?: string };

export interface ConnParams {
  /** Tried in order until one accepts the connection (libpq multi-host). */
  targets: PgTarget[];
  dbname: string;
  user: string;
  password: string | null;
  sslmode: SslMode;
  applicationName: string | null;
  /** Seconds per connection attempt; null waits as long as the OS does. */
  connectTimeout: number | null;
  /** Command-line options sent to the server (the "options" keyword). */
  options: string | null;
  clientEncoding: string | null;
  /** CA certificates file for sslmode verify-ca/verify-full; null = system CAs. */
  sslRootCert: string | null;
}

export class ConninfoError extends Error {
  override name = "ConninfoError";
}

/** libpq's keywords. Those we do not implement are accepted and ignored. */
const KEYWORDS = new Set([
  "host",
  "hostaddr",
  "port",
  "dbname",
  "user",
  "password",
  "passfile",
  "channel_binding",
  "connect_timeout",
  "client_encoding",
  "options",
  "application_name",
  "fallback_application_name",
  "keepalives",
  "keepalives_idle",
  "keepalives_interval",
  "keepalives_count",
  "tcp_user_timeout",
  "sslmode",
  "requiressl",
  "sslcompression",
  "sslcert",
  "sslkey",
  "sslpassword",
  "sslrootcert",
  "sslcrl",
  "sslcrldir",
  "sslsni",
  "requirepeer",
  "ssl_min_protocol_version",
  "ssl_max_protocol_version",
  "gssencmode",
  "krbsrvname",
  "gsslib",
  "gssdelegation",
  "service",
  "target_session_attrs",
  "load_balance_hosts",
  "replication",
]);

/** Environment variables libpq reads, by keyword. */
const ENV_VARS: Record<string, string> = {
  host: "PGHOST",
  hostaddr: "PGHOSTADDR",
  port: "PGPORT",
  dbname: "PGDATABASE",
  user: "PGUSER",
  password: "PGPASSWORD",
  sslmode: "PGSSLMODE",
  application_name: "PGAPPNAME",
  connect_timeout: "PGCONNECT_TIMEOUT",
  options: "PGOPTIONS",
  client_encoding: "PGCLIENTENCODING",
  sslrootcert: "PGSSLROOTCERT",
};

/** Debian's libpq compiles in this socket directory. */
export const DEFAULT_SOCKET_DIR = "/var/run/postgresql";
export const DEFAULT_PORT = 5432;

const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f";

/** Parses the key=value form into raw keyword values (later keys win). */
export function parseKeyValue(text: string): Map<string, string> {
  const result = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (true) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== "=" && !isSpace(text[i])) i++;
    const key = text.slice(keyStart, i);
    while (i < n && isSpace(text[i])) i++;
    if (text[i] !== "=") {
      throw new ConninfoError(`missing "=" after "${key}" in connection info string`);
    }
    i++;
    while (i < n && isSpace(text[i])) i++;
    let value = "";
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i];
        if (c === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) {
        throw new ConninfoError("unterminated quoted string in connection info string");
      }
    } else {
      while (i < n && !isSpace(text[i])) {
        if (text[i] === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else {
          value += text[i++];
        }
      }
    }
    checkKeyword(key);
    result.set(key, value);
  }
  return result;
}

function checkKeyword(key: string): void {
  if (!KEYWORDS.has(key)) {
    throw new ConninfoError(`invalid connection option "${key}"`);
  }
}

function percentDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConninfoError(`invalid percent-encoded token: "${text}" in ${what}`);
  }
}

const URI_PREFIXES = ["postgresql://", "postgres://"];

export function isUri(text: string): boolean {
  return URI_PREFIXES.some((p) => text.startsWith(p));
}

/** Parses postgresql://user:password@host1:port1,host2/dbname?key=value&... */
export function parseUri(uri: string): Map<string, string> {
  const result = new Map<string, string>();
  const prefix = URI_PREFIXES.find((p) => uri.startsWith(p));
  if (prefix === undefined) throw new ConninfoError(`invalid URI "${uri}"`);
  let rest = uri.slice(prefix.length);

  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let path: string | null = null;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    path = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
  }
  // The userinfo ends at the last "@" (passwords may contain unencoded "@"
  // only percent-encoded, but be lenient like browsers).
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (user !== "") result.set("user", percentDecode(user, uri));
    if (colon >= 0) result.set("password", percentDecode(userinfo.slice(colon + 1), uri));
  }

  const hosts: string[] = [];
  const ports: string[] = [];
  if (rest !== "") {
    for (const part of rest.split(",")) {
      let host: string;
      let port = "";
      if (part.startsWith("[")) {
        const close = part.indexOf("]");
        if (close < 0) {
          throw new ConninfoError(
            `end of string reached when looking for matching "]" in IPv6 host address in URI: "${uri}"`,
          );
        }
        host = part.slice(1, close);
        const after = part.slice(close + 1);
        if (after.startsWith(":")) port = after.slice(1);
        else if (after !== "") {
          throw new ConninfoError(
            `unexpected character "${after[0]}" at position ${
              uri.indexOf(after)
            } in URI (expected ":" or "/"): "${uri}"`,
          );
        }
      } else {
        const colon = part.lastIndexOf(":");
        host = colon >= 0 ? part.slice(0, colon) : part;
        port = colon >= 0 ? part.slice(colon + 1) : "";
      }
      hosts.push(percentDecode(host, uri));
      ports.push(percentDecode(port, uri));
    }
    if (hosts.some((h) => h !== "")) result.set("host", hosts.join(","));
    if (ports.some((p) => p !== "")) result.set("port", ports.join(","));
  }
  if (path !== null && path !== "") result.set("dbname", percentDecode(path, uri));

  if (query !== "") {
    for (const pair of query.split("&")) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      if (eq < 0) {
        throw new ConninfoError(
          `missing key/value separator "=" in URI query parameter: "${pair}"`,
        );
      }
      let key = percentDecode(pair.slice(0, eq).replaceAll("+", " "), uri);
      let value = percentDecode(pair.slice(eq + 1).replaceAll("+", " "), uri);
      // JDBC-style "ssl=true" is accepted by libpq as sslmode=require.
      if (key === "ssl" && value === "true") {
        key = "sslmode";
        value = "require";
      }
      if (!KEYWORDS.has(key)) {
        throw new ConninfoError(`invalid URI query parameter: "${key}"`);
      }
      result.set(key, value);
    }
  }
  return result;
}

/** Parses either form into raw keyword values. */
export function parseConninfoString(text: string): Map<string, string> {
  return isUri(text) ? parseUri(text) : parseKeyValue(text);
}

function parsePort(text: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1 || Number(trimmed) > 65535) {
    throw new ConninfoError(`invalid port number: "${text}"`);
  }
  return Number(trimmed);
}

/**
 * Resolves a connection string against the environment and libpq's
 * defaults. `env` holds the PG* variables; `osUser` is the effective user's
 * login name (libpq's default user).
 */
export function resolveConninfo(
  conninfo: string,
  env: Record<string, string | undefined>,
  osUser: string,
): ConnParams {
  const given = parseConninfoString(conninfo);
  const get = (key: string): string | null => {
    const v = given.get(key);
    if (v !== undefined && v !== "") return v;
    const envName = ENV_VARS[key];
    const e = envName === undefined ? undefined : env[envName];
    return e !== undefined && e !== "" ? e : null;
  };

  const hostText = get("host");
  const hostaddrText = get("hostaddr");
  const hosts = hostText !== null
    ? hostText.split(",")
    : hostaddrText !== null
    ? hostaddrText.split(",")
    : [DEFAULT_SOCKET_DIR];
  const addrs = hostaddrText !== null ? hostaddrText.split(",") : [];
  if (addrs.length > 0 && addrs.length !== hosts.length) {
    throw new ConninfoError(
      `could not match ${addrs.length} host addresses to ${hosts.length} host names`,
    );
  }
  const portText = get("port");
  const portList = portText !== null ? portText.split(",") : [];
  if (portList.length > 1 && portList.length !== hosts.length) {
    throw new ConninfoError(
      `could not match ${portList.length} port numbers to ${hosts.length} hosts`,
    );
  }
  const targets: PgTarget[] = hosts.map((h, i) => {
    const p = portList.length === 0
      ? DEFAULT_PORT
      : portList[portList.length === 1 ? 0 : i].trim() === ""
      ? DEFAULT_PORT
      : parsePort(portList[portList.length === 1 ? 0 : i]);
    const addr = addrs[i];
    if (addr !== undefined && addr !== "") {
      return h !== "" && h !== addr && !h.startsWith("/")
        ? { kind: "tcp", hostname: addr, port: p, serverName: h }
        : { kind: "tcp", hostname: addr, port: p };
    }
    const host = h === "" ? DEFAULT_SOCKET_DIR : h;
    if (host.startsWith("/")) {
      return { kind: "unix", path: `${host.replace(/\/+$/, "")}/.s.PGSQL.${p}`, port: p };
    }
    if (host.startsWith("@")) {
      throw new ConninfoError(`abstract socket host "${host}" is not supported`);
    }
    return { kind: "tcp", hostname: host, port: p };
  });

  let sslmode = get("sslmode") ?? "prefer";
  if (given.get("requiressl") === "1" && given.get("sslmode") === undefined) sslmode = "require";
  if (!SSL_MODES.includes(sslmode as SslMode)) {
    throw new ConninfoError(`invalid sslmode value: "${sslmode}"`);
  }

  const timeoutText = get("connect_timeout");
  let connectTimeout: number | null = null;
  if (timeoutText !== null) {
    if (!/^\s*-?\d+\s*$/.test(timeoutText)) {
      throw new ConninfoError(
        `invalid integer value "${timeoutText}" for connection option "connect_timeout"`,
      );
    }
    const t = Number(timeoutText);
    // libpq: 0 or negative waits forever; 1 is raised to 2.
    connectTimeout = t <= 0 ? null : Math.max(t, 2);
  }

  const user = get("user") ?? osUser;
  return {
    targets,
    dbname: get("dbname") ?? user,
    user,
    password: get("password"),
    sslmode: sslmode as SslMode,
    applicationName: get("application_name") ?? given.get("fallback_application_name") ?? null,
    connectTimeout,
    options: get("options"),
    clientEncoding: get("client_encoding"),
    sslRootCert: get("sslrootcert"),
  };
}

/** How errors name a target, like libpq 15. */
export function describeTarget(target: PgTarget): string {
  return target.kind === "unix"
    ? `server on socket "${target.path}"`
    : `server at "${target.hostname}", port ${target.port}`;
}
