// libpq connection strings (key=value and postgresql:// URIs), service files,
// PG* environment variables and libpq's defaults, resolved into the parameters
// our client uses. Every libpq 16 keyword is either implemented or, for values
// other than its harmless default, refused (UnsupportedOptionError). Pure but
// for the file reads, which go through ConninfoFiles.

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
const SSL_MODES: readonly SslMode[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

export type TargetSessionAttrs =
  | "any"
  | "read-write"
  | "read-only"
  | "primary"
  | "standby"
  | "prefer-standby";
const SESSION_ATTRS: readonly TargetSessionAttrs[] = [
  "any",
  "read-write",
  "read-only",
  "primary",
  "standby",
  "prefer-standby",
];

export type ChannelBinding = "disable" | "prefer" | "require";
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
const TLS_VERSIONS: readonly TlsVersion[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/** Authentication requests as numbered by the protocol (AuthenticationXxx). */
export const AUTH_REQ = { ok: 0, password: 3, md5: 5, gss: 7, gssCont: 8, sspi: 9, sasl: 10 };

/** Where one connection attempt goes. */
export type PgTarget =
  | {
    kind: "unix";
    path: string;
    port: number;
    /** The host as the password file matches it (libpq: "localhost" for the default dir). */
    passHost?: string;
  }
  /** serverName: the host name TLS verifies (differs from hostname with hostaddr). */
  | { kind: "tcp"; hostname: string; port: number; serverName?: string; passHost?: string };

export interface TlsParams {
  /** CA file; "system" = the system's roots; null = no file (no verification possible). */
  rootCert: string | null;
  /** Client certificate and key files (null: none sent). */
  cert: string | null;
  key: string | null;
  password: string | null;
  crl: string | null;
  crlDir: string | null;
  sni: boolean;
  minVersion: TlsVersion;
  maxVersion: TlsVersion | null;
  /** sslcertmode=disable: never send a client certificate. */
  sendCert: boolean;
}

export interface RequireAuth {
  /** The keyword's text, for error messages. */
  text: string;
  /** Allowed AuthenticationXxx codes (AUTH_REQ); SASL means SCRAM-SHA-256. */
  allowed: Set<number>;
  /** False when "none" is allowed: the server may skip authentication. */
  authRequired: boolean;
}

export interface Keepalives {
  enabled: boolean;
  /** Seconds; null = the OS default. */
  idle: number | null;
  interval: number | null;
  count: number | null;
}

export interface ConnParams {
  /** Tried in order until one accepts the connection (libpq multi-host). */
  targets: PgTarget[];
  dbname: string;
  user: string;
  password: string | null;
  /** The password file consulted per host when no password is given (null: none). */
  passfile: string | null;
  sslmode: SslMode;
  tls: TlsParams;
  channelBinding: ChannelBinding;
  requireAuth: RequireAuth | null;
  /** requirepeer: the OS user the server on a Unix socket must run as. */
  requirePeer: string | null;
  targetSessionAttrs: TargetSessionAttrs;
  /** load_balance_hosts=random: shuffle the hosts for every connection. */
  loadBalance: boolean;
  keepalives: Keepalives;
  /** TCP_USER_TIMEOUT in ms; null = the OS default. */
  tcpUserTimeout: number | null;
  applicationName: string | null;
  /** Seconds per connection attempt; null waits as long as the OS does. */
  connectTimeout: number | null;
  /** Command-line options sent to the server (the "options" keyword). */
  options: string | null;
  clientEncoding: string | null;
  /** Startup parameters from PGDATESTYLE, PGTZ and PGGEQO (libpq sends them too). */
  extraStartup: Record<string, string>;
}

export class ConninfoError extends Error {
  override name = "ConninfoError";
}

/** A keyword or value we do not implement: pg:new refuses it at once. */
export class UnsupportedOptionError extends ConninfoError {
  override name = "UnsupportedOptionError";
  constructor(key: string, value: string) {
    super(`connection option "${key}=${value}" is not supported`);
  }
}

/** libpq 16's keywords and the environment variable behind each. */
const KEYWORD_ENV: Record<string, string | null> = {
  service: "PGSERVICE",
  user: "PGUSER",
  password: "PGPASSWORD",
  passfile: "PGPASSFILE",
  channel_binding: "PGCHANNELBINDING",
  connect_timeout: "PGCONNECT_TIMEOUT",
  dbname: "PGDATABASE",
  host: "PGHOST",
  hostaddr: "PGHOSTADDR",
  port: "PGPORT",
  client_encoding: "PGCLIENTENCODING",
  options: "PGOPTIONS",
  application_name: "PGAPPNAME",
  fallback_application_name: null,
  keepalives: null,
  keepalives_idle: null,
  keepalives_interval: null,
  keepalives_count: null,
  tcp_user_timeout: null,
  sslmode: "PGSSLMODE",
  requiressl: "PGREQUIRESSL",
  sslcompression: "PGSSLCOMPRESSION",
  sslcert: "PGSSLCERT",
  sslkey: "PGSSLKEY",
  sslcertmode: "PGSSLCERTMODE",
  sslpassword: null,
  sslrootcert: "PGSSLROOTCERT",
  sslcrl: "PGSSLCRL",
  sslcrldir: "PGSSLCRLDIR",
  sslsni: "PGSSLSNI",
  requirepeer: "PGREQUIREPEER",
  require_auth: "PGREQUIREAUTH",
  ssl_min_protocol_version: "PGSSLMINPROTOCOLVERSION",
  ssl_max_protocol_version: "PGSSLMAXPROTOCOLVERSION",
  gssencmode: "PGGSSENCMODE",
  krbsrvname: "PGKRBSRVNAME",
  gsslib: "PGGSSLIB",
  gssdelegation: "PGGSSDELEGATION",
  replication: null,
  target_session_attrs: "PGTARGETSESSIONATTRS",
  load_balance_hosts: "PGLOADBALANCEHOSTS",
};
const KEYWORDS = new Set(Object.keys(KEYWORD_ENV));

/**
 * Keywords for GSSAPI, replication and the like that we do not implement:
 * the values accepted because they are libpq's harmless defaults (or mean
 * "off"); any other value is refused. Compared case-sensitively like libpq.
 */
const HARMLESS_ONLY: Record<string, readonly string[]> = {
  gssencmode: ["disable", "prefer"],
  krbsrvname: ["postgres"],
  gsslib: ["gssapi"],
  gssdelegation: ["0"],
  replication: ["0", "off", "false", "no", "f", "n"],
  sslcertmode: ["disable", "allow"],
};

/** The keywords refused unless they hold one of these values (README, tests). */
export const DEFAULT_ONLY_KEYWORDS: Readonly<Record<string, readonly string[]>> = HARMLESS_ONLY;

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

/** libpq's parse_int_param: an integer, surrounding blanks allowed. */
function parseIntParam(text: string, key: string): number {
  if (!/^\s*[-+]?\d+\s*$/.test(text)) {
    throw new ConninfoError(`invalid integer value "${text}" for connection option "${key}"`);
  }
  return Number(text);
}

/** The file system as resolving sees it (tests pass their own). */
export interface ConninfoFiles {
  /** The file's text, or null if it does not exist. */
  readText(path: string): string | null;
  /** The user's home directory when $HOME is unset (getpwuid). */
  passwdHome(): string | null;
}

export const realFiles: ConninfoFiles = {
  readText(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw new ConninfoError(`could not read file "${path}": ${(e as Error).message}`);
    }
  },
  passwdHome() {
    const uid = Deno.uid();
    try {
      for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
        const f = line.split(":");
        if (f.length >= 6 && f[2] !== "" && Number(f[2]) === uid) return f[5];
      }
    } catch {
      // no passwd file
    }
    return null;
  },
};

/** Debian's libpq is built with this sysconfdir (pg_config --sysconfdir). */
export const DEFAULT_SYSCONFDIR = "/etc/postgresql-common";

/** libpq 16: $HOME first, then the password database. */
export function homeDirectory(
  env: Record<string, string | undefined>,
  files: ConninfoFiles,
): string | null {
  const home = env.HOME;
  return home !== undefined && home !== "" ? home : files.passwdHome();
}

/**
 * One service's settings from a pg_service.conf text, or null if the file
 * has no such section. The first setting of a keyword wins.
 */
export function parseServiceFile(
  text: string,
  service: string,
  path: string,
): Map<string, string> | null {
  let inGroup = false;
  let found: Map<string, string> | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      const close = line.indexOf("]");
      const name = line.slice(1, close < 0 ? undefined : close);
      inGroup = name === service;
      if (inGroup) found ??= new Map();
      continue;
    }
    if (!inGroup || found === null) continue;
    if (line.startsWith("ldap")) throw new UnsupportedOptionError("service ldap", line);
    const eq = line.indexOf("=");
    if (eq < 0) throw new ConninfoError(`syntax error in service file "${path}", line ${i + 1}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === "service") {
      throw new ConninfoError(
        `nested service specifications not supported in service file "${path}", line ${i + 1}`,
      );
    }
    if (!KEYWORDS.has(key)) {
      throw new ConninfoError(`syntax error in service file "${path}", line ${i + 1}`);
    }
    if (!found.has(key)) found.set(key, value);
  }
  return found;
}

/** libpq's search: $PGSERVICEFILE or ~/.pg_service.conf, then PGSYSCONFDIR/pg_service.conf. */
export function lookupService(
  service: string,
  env: Record<string, string | undefined>,
  files: ConninfoFiles,
): Map<string, string> {
  const home = homeDirectory(env, files);
  const userFile = env.PGSERVICEFILE || (home !== null ? `${home}/.pg_service.conf` : null);
  const sysFile = `${env.PGSYSCONFDIR || DEFAULT_SYSCONFDIR}/pg_service.conf`;
  for (const path of [userFile, sysFile]) {
    if (path === null) continue;
    const text = files.readText(path);
    if (text === null) continue;
    const found = parseServiceFile(text, service, path);
    if (found !== null) return found;
  }
  throw new ConninfoError(`definition of service "${service}" not found`);
}

const REQUIRE_AUTH_METHODS: Record<string, number[]> = {
  password: [AUTH_REQ.password],
  md5: [AUTH_REQ.md5],
  gss: [AUTH_REQ.gss, AUTH_REQ.gssCont],
  sspi: [AUTH_REQ.sspi],
  "scram-sha-256": [AUTH_REQ.sasl],
  none: [],
};

/** require_auth: all methods listed, or all negated with "!" (libpq 16). */
export function parseRequireAuth(text: string): RequireAuth {
  const items = text.split(",");
  const negated = items[0].startsWith("!");
  const allowed = new Set<number>(
    negated ? Object.values(REQUIRE_AUTH_METHODS).flat() : [],
  );
  let authRequired = true;
  const seen = new Set<string>();
  for (const item of items) {
    const neg = item.startsWith("!");
    const method = neg ? item.slice(1) : item;
    if (neg !== negated) {
      throw new ConninfoError(
        negated
          ? `negative require_auth method "${item}" cannot be mixed with non-negative methods`
          : `require_auth method "${item}" cannot be mixed with negative methods`,
      );
    }
    const codes = REQUIRE_AUTH_METHODS[method];
    if (codes === undefined) throw new ConninfoError(`invalid require_auth value: "${method}"`);
    if (seen.has(method)) {
      throw new ConninfoError(`require_auth method "${method}" is specified more than once`);
    }
    seen.add(method);
    if (method === "none") authRequired = negated;
    for (const c of codes) negated ? allowed.delete(c) : allowed.add(c);
  }
  if (negated && !seen.has("none")) authRequired = false;
  return { text, allowed, authRequired };
}

/** client_encoding=auto: the locale's code set, as libpq asks the OS. */
function localeEncoding(env: Record<string, string | undefined>): string {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || "C";
  return /\.utf-?8/i.test(locale) ? "UTF8" : "SQL_ASCII";
}

/**
 * Resolves a connection string against a service file, the environment and
 * libpq's defaults. `env` holds the PG* variables; `osUser` is the effective
 * user's login name (libpq's default user).
 */
export function resolveConninfo(
  conninfo: string,
  env: Record<string, string | undefined>,
  osUser: string,
  files: ConninfoFiles = realFiles,
): ConnParams {
  const given = parseConninfoString(conninfo);
  const serviceName = given.get("service") ?? (env.PGSERVICE || null);
  const service = serviceName !== null && serviceName !== ""
    ? lookupService(serviceName, env, files)
    : new Map<string, string>();
  // libpq: a keyword in the string (even empty) wins, then the service, then
  // the environment; an empty value means the default.
  const get = (key: string): string | null => {
    let v = given.get(key) ?? service.get(key);
    if (v === undefined) {
      const envName = KEYWORD_ENV[key];
      v = envName ? env[envName] : undefined;
    }
    return v !== undefined && v !== "" ? v : null;
  };

  for (const [key, allowed] of Object.entries(HARMLESS_ONLY)) {
    const v = get(key);
    if (v !== null && !allowed.includes(v)) throw new UnsupportedOptionError(key, v);
  }

  const home = homeDirectory(env, files);
  const inHome = (name: string) => (home !== null ? `${home}/.postgresql/${name}` : null);

  const hostText = get("host");
  const hostaddrText = get("hostaddr");
  const hosts = hostText !== null
    ? hostText.split(",")
    : hostaddrText !== null
    ? hostaddrText.split(",").map(() => "")
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
    const portItem = portList.length === 0 ? "" : portList[portList.length === 1 ? 0 : i];
    const p = portItem.trim() === "" ? DEFAULT_PORT : parsePort(portItem);
    const addr = addrs[i];
    if (addr !== undefined && addr !== "") {
      const passHost = h !== "" ? h : addr;
      return h !== "" && h !== addr && !h.startsWith("/")
        ? { kind: "tcp", hostname: addr, port: p, serverName: h, passHost }
        : { kind: "tcp", hostname: addr, port: p, passHost };
    }
    const host = h === "" ? DEFAULT_SOCKET_DIR : h;
    if (host.startsWith("/")) {
      return {
        kind: "unix",
        path: `${host.replace(/\/+$/, "")}/.s.PGSQL.${p}`,
        port: p,
        passHost: host === DEFAULT_SOCKET_DIR ? "localhost" : host,
      };
    }
    if (host.startsWith("@")) throw new UnsupportedOptionError("host", host);
    return { kind: "tcp", hostname: host, port: p, passHost: host };
  });

  const rootCertGiven = get("sslrootcert");
  let sslmode = get("sslmode");
  if (sslmode === null && get("requiressl")?.startsWith("1")) sslmode = "require";
  if (sslmode === null) sslmode = rootCertGiven === "system" ? "verify-full" : "prefer";
  if (!SSL_MODES.includes(sslmode as SslMode)) {
    throw new ConninfoError(`invalid sslmode value: "${sslmode}"`);
  }
  if (rootCertGiven === "system" && sslmode !== "verify-full") {
    throw new ConninfoError(
      `weak sslmode "${sslmode}" may not be used with sslrootcert=system (use "verify-full")`,
    );
  }
  const sslcompression = get("sslcompression");
  if (sslcompression !== null && !/^[01]$/.test(sslcompression)) {
    throw new ConninfoError(`invalid sslcompression value: "${sslcompression}"`);
  }
  const version = (key: string): TlsVersion | null => {
    const v = get(key);
    if (v === null) return null;
    if (!TLS_VERSIONS.includes(v as TlsVersion)) {
      throw new ConninfoError(`invalid ${key} value: "${v}"`);
    }
    return v as TlsVersion;
  };
  const minVersion = version("ssl_min_protocol_version") ?? "TLSv1.2";
  const maxVersion = version("ssl_max_protocol_version");
  if (maxVersion !== null && TLS_VERSIONS.indexOf(minVersion) > TLS_VERSIONS.indexOf(maxVersion)) {
    throw new ConninfoError("invalid SSL protocol version range");
  }
  const tlsParams: TlsParams = {
    rootCert: rootCertGiven ?? inHome("root.crt"),
    cert: get("sslcert") ?? inHome("postgresql.crt"),
    key: get("sslkey") ?? inHome("postgresql.key"),
    password: get("sslpassword"),
    crl: get("sslcrl") ?? (get("sslcrldir") === null ? inHome("root.crl") : null),
    crlDir: get("sslcrldir"),
    sni: (get("sslsni") ?? "1").startsWith("1"),
    minVersion,
    maxVersion,
    sendCert: get("sslcertmode") !== "disable",
  };

  const channelBinding = get("channel_binding") ?? "prefer";
  if (!["disable", "prefer", "require"].includes(channelBinding)) {
    throw new ConninfoError(`invalid channel_binding value: "${channelBinding}"`);
  }
  const requireAuthText = get("require_auth");
  const targetSessionAttrs = get("target_session_attrs") ?? "any";
  if (!SESSION_ATTRS.includes(targetSessionAttrs as TargetSessionAttrs)) {
    throw new ConninfoError(`invalid target_session_attrs value: "${targetSessionAttrs}"`);
  }
  const loadBalance = get("load_balance_hosts") ?? "disable";
  if (loadBalance !== "disable" && loadBalance !== "random") {
    throw new ConninfoError(`invalid load_balance_hosts value: "${loadBalance}"`);
  }

  const optionalInt = (key: string): number | null => {
    const v = get(key);
    return v === null ? null : parseIntParam(v, key);
  };
  const timeout = optionalInt("connect_timeout");
  const keepalivesOn = optionalInt("keepalives");
  const positive = (key: string) => {
    const v = optionalInt(key);
    return v === null || v <= 0 ? null : v;
  };

  let clientEncoding = get("client_encoding");
  if (clientEncoding === "auto") clientEncoding = localeEncoding(env);

  const extraStartup: Record<string, string> = {};
  for (
    const [name, param] of [["PGDATESTYLE", "datestyle"], ["PGTZ", "timezone"], ["PGGEQO", "geqo"]]
  ) {
    const v = env[name];
    if (v !== undefined && v !== "") extraStartup[param] = v;
  }

  const user = get("user") ?? osUser;
  return {
    targets,
    dbname: get("dbname") ?? user,
    user,
    password: get("password"),
    passfile: get("passfile") ?? (home !== null ? `${home}/.pgpass` : null),
    sslmode: sslmode as SslMode,
    tls: tlsParams,
    channelBinding: channelBinding as ChannelBinding,
    requireAuth: requireAuthText === null ? null : parseRequireAuth(requireAuthText),
    requirePeer: get("requirepeer"),
    targetSessionAttrs: targetSessionAttrs as TargetSessionAttrs,
    loadBalance: loadBalance === "random",
    keepalives: {
      enabled: keepalivesOn === null || keepalivesOn !== 0,
      idle: positive("keepalives_idle"),
      interval: positive("keepalives_interval"),
      count: positive("keepalives_count"),
    },
    tcpUserTimeout: positive("tcp_user_timeout"),
    applicationName: get("application_name") ?? get("fallback_application_name"),
    // libpq: 0 or negative waits forever; 1 is raised to 2.
    connectTimeout: timeout === null || timeout <= 0 ? null : Math.max(timeout, 2),
    options: get("options"),
    clientEncoding,
    extraStartup,
  };
}

/** The connection string without its password, for status displays. */
export function describeConninfo(conninfo: string): string {
  try {
    const given = parseConninfoString(conninfo);
    given.delete("password");
    given.delete("sslpassword");
    return [...given].map(([k, v]) =>
      `${k}=${/[\s'\\]|^$/.test(v) ? `'${v.replace(/['\\]/g, "\\$&")}'` : v}`
    )
      .join(" ");
  } catch {
    return "(invalid connection string)";
  }
}

/** How errors name a target, like libpq 15. */
export function describeTarget(target: PgTarget): string {
  return target.kind === "unix"
    ? `server on socket "${target.path}"`
    : `server at "${target.hostname}", port ${target.port}`;
}
