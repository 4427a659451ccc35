// libpq's TLS files and checks: sslrootcert (a file, or "system"), the
// ~/.postgresql defaults, sslcert/sslkey (with libpq's key permission rule),
// sslcrl/sslcrldir, and verify-full's host name check with libpq's messages.
import type { ConnParams } from "./conninfo.ts";
import { type Crl, parseCrl, pemBlocks } from "./crl.ts";

export class TlsConfigError extends Error {
  override name = "TlsConfigError";
}

export interface TlsFiles {
  /** Trusted CAs; undefined = the chain is not verified (sslmode require/prefer/allow without root.crt). */
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  /** Revocation lists, checked after the handshake (crl.ts). */
  crls?: Crl[];
}

const NO_ROOT_HINT = "Either provide the file, use the system's trusted roots with " +
  "sslrootcert=system, or change sslmode to disable server certificate verification.";

function readIfExists(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new TlsConfigError(`could not read file "${path}": ${(e as Error).message}`);
  }
}

/** OpenSSL's default bundle, as libpq's sslrootcert=system loads it. */
function systemRoots(): string {
  const path = Deno.env.get("SSL_CERT_FILE") || "/etc/ssl/certs/ca-certificates.crt";
  const text = readIfExists(path);
  if (text === null) throw new TlsConfigError(`could not read system root certificates "${path}"`);
  return text;
}

/** Reads what the handshake needs; throws TlsConfigError with libpq's wording. */
export function loadTlsFiles(params: ConnParams): TlsFiles {
  const t = params.tls;
  const verify = params.sslmode === "verify-ca" || params.sslmode === "verify-full";
  const files: TlsFiles = {};
  if (t.rootCert === "system") {
    files.ca = systemRoots();
  } else if (t.rootCert === null) {
    if (verify) {
      throw new TlsConfigError(
        `could not get home directory to locate root certificate file\n${NO_ROOT_HINT}`,
      );
    }
  } else {
    const ca = readIfExists(t.rootCert);
    // libpq verifies the chain whenever the root file exists, in every mode.
    if (ca !== null) files.ca = ca;
    else if (verify) {
      throw new TlsConfigError(
        `root certificate file "${t.rootCert}" does not exist\n${NO_ROOT_HINT}`,
      );
    }
  }
  if (files.ca !== undefined) {
    const crls: string[] = [];
    if (t.crl !== null) {
      const crl = readIfExists(t.crl);
      if (crl !== null) crls.push(crl);
    }
    if (t.crlDir !== null) {
      for (const entry of Deno.readDirSync(t.crlDir)) {
        if (entry.isFile) crls.push(Deno.readTextFileSync(`${t.crlDir}/${entry.name}`));
      }
    }
    if (crls.length > 0) {
      try {
        files.crls = crls.flatMap((text) => pemBlocks(text, "X509 CRL")).map(parseCrl);
      } catch (e) {
        throw new TlsConfigError(
          `could not load SSL certificate revocation list: ${(e as Error).message}`,
        );
      }
    }
  }
  if (t.sendCert && t.cert !== null) {
    const cert = readIfExists(t.cert);
    if (cert !== null) {
      if (t.key === null) {
        throw new TlsConfigError(`certificate present, but not private key file`);
      }
      files.cert = cert;
      files.key = readKey(t.key);
      if (t.password !== null) files.passphrase = t.password;
    }
  }
  return files;
}

function readKey(path: string): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new TlsConfigError(`certificate present, but not private key file "${path}"`);
  }
  if (!info.isFile) throw new TlsConfigError(`private key file "${path}" is not a regular file`);
  const mode = info.mode ?? 0;
  // libpq: u=rw (0600) or less if ours, u=rw,g=r (0640) or less if root's.
  const tooOpen = info.uid === 0 ? (mode & 0o037) !== 0 : (mode & 0o077) !== 0;
  if (tooOpen) {
    throw new TlsConfigError(
      `private key file "${path}" has group or world access; file must have permissions ` +
        "u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
    );
  }
  return Deno.readTextFileSync(path);
}

interface PeerCertificate {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
}

function nameMatches(pattern: string, host: string, hostIsIp: boolean): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === h) return true;
  // "*.example.com" matches one label, never an IP address.
  if (hostIsIp || !p.startsWith("*.")) return false;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot) === p.slice(1);
}

/** verify-full: null if the certificate names the host, else libpq's message. */
export function verifyHostName(
  cert: PeerCertificate | null | undefined,
  host: string,
): string | null {
  const hostIsIp = /^[\d.]+$/.test(host) || host.includes(":");
  const sans = (cert?.subjectaltname ?? "").split(/,\s*/).filter((s) => s !== "");
  const names: string[] = [];
  for (const san of sans) {
    if (san.startsWith("DNS:")) names.push(san.slice(4));
    else if (san.startsWith("IP Address:")) names.push(san.slice(11));
  }
  if (names.length === 0) {
    const cn = cert?.subject?.CN;
    if (cn !== undefined) names.push(...(Array.isArray(cn) ? cn : [cn]));
  }
  if (names.some((n) => nameMatches(n, host, hostIsIp))) return null;
  if (names.length === 0) return "could not get server's host name from server certificate";
  const others = names.length - 1;
  return others === 0
    ? `server certificate for "${names[0]}" does not match host name "${host}"`
    : `server certificate for "${names[0]}" (and ${others} other name${
      others > 1 ? "s" : ""
    }) does not match host name "${host}"`;
}
