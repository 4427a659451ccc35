// Certificate revocation lists for sslcrl/sslcrldir. node:tls in Deno does not
// apply its `crl` option, so after the handshake we check the server's chain
// ourselves, as OpenSSL does for libpq (X509_V_FLAG_CRL_CHECK|CRL_CHECK_ALL):
// every certificate but a self-signed root needs a CRL from its issuer,
// signed by that issuer and not expired, that does not list its serial.
import { verify, X509Certificate } from "node:crypto";
import { children, oidText, type Tlv, tlv } from "./der.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const bytes = (der: Uint8Array, t: Tlv) => der.subarray(t.start, t.end);
/** An INTEGER's value as hex without leading zero bytes (serial numbers). */
const intHex = (der: Uint8Array, t: Tlv) =>
  hex(der.subarray(t.contentStart, t.end)).replace(/^(00)+(?=.)/, "");

const SIGNATURE_HASH: Record<string, string> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

function parseTime(der: Uint8Array, t: Tlv): Date {
  const s = new TextDecoder().decode(der.subarray(t.contentStart, t.end));
  // UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ
  const full = t.tag === 0x17 ? (Number(s.slice(0, 2)) >= 50 ? "19" : "20") + s : s;
  return new Date(
    `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${
      full.slice(10, 12)
    }:${full.slice(12, 14)}Z`,
  );
}

export interface Crl {
  /** The issuer Name, DER as hex. */
  issuer: string;
  revoked: Set<string>;
  nextUpdate: Date | null;
  tbs: Uint8Array;
  hash: string | undefined;
  signature: Uint8Array;
}

export function parseCrl(der: Uint8Array): Crl {
  const [tbsT, algT, sigT] = children(der, tlv(der, 0));
  const tbs = children(der, tbsT);
  let i = tbs[0].tag === 0x02 ? 1 : 0; // optional version
  i++; // signature algorithm
  const issuer = hex(bytes(der, tbs[i++]));
  i++; // thisUpdate
  let nextUpdate: Date | null = null;
  if (i < tbs.length && (tbs[i].tag === 0x17 || tbs[i].tag === 0x18)) {
    nextUpdate = parseTime(der, tbs[i++]);
  }
  const revoked = new Set<string>();
  if (i < tbs.length && tbs[i].tag === 0x30) {
    for (const entry of children(der, tbs[i])) revoked.add(intHex(der, children(der, entry)[0]));
  }
  const oid = children(der, algT)[0];
  return {
    issuer,
    revoked,
    nextUpdate,
    tbs: bytes(der, tbsT),
    hash: SIGNATURE_HASH[oidText(der.subarray(oid.contentStart, oid.end))],
    // BIT STRING: skip the unused-bits byte
    signature: der.subarray(sigT.contentStart + 1, sigT.end),
  };
}

/** The DER blocks of a PEM text with this label ("X509 CRL"). */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) =>
    Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0))
  );
}

interface CertFields {
  serial: string;
  issuer: string;
  subject: string;
}

function certFields(der: Uint8Array): CertFields {
  const tbs = children(der, children(der, tlv(der, 0))[0]);
  let i = tbs[0].tag === 0xa0 ? 1 : 0; // [0] version
  const serial = intHex(der, tbs[i++]);
  i++; // signature algorithm
  const issuer = hex(bytes(der, tbs[i++]));
  i++; // validity
  const subject = hex(bytes(der, tbs[i]));
  return { serial, issuer, subject };
}

/**
 * Checks a chain (leaf first, DER) against the CRLs; returns null or
 * OpenSSL's reason ("certificate revoked", "unable to get certificate CRL", ...).
 */
export function checkRevocation(chain: Uint8Array[], crls: Crl[], now = new Date()): string | null {
  const certs = chain.map((der) => ({ der, ...certFields(der) }));
  for (const cert of certs) {
    if (cert.issuer === cert.subject) continue; // a self-signed root: trusted as such
    const issuerCert = certs.find((c) => c.subject === cert.issuer);
    const candidates = crls.filter((c) => c.issuer === cert.issuer);
    if (candidates.length === 0 || issuerCert === undefined) return "unable to get certificate CRL";
    const key = new X509Certificate(issuerCert.der).publicKey;
    const valid = candidates.filter((c) =>
      c.hash !== undefined && verify(c.hash, c.tbs, key, c.signature)
    );
    if (valid.length === 0) return "CRL signature failure";
    if (valid.every((c) => c.nextUpdate !== null && c.nextUpdate < now)) return "CRL has expired";
    if (valid.some((c) => c.revoked.has(cert.serial))) return "certificate revoked";
  }
  return null;
}
