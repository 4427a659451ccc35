// Password authentication: MD5 and SCRAM-SHA-256 (RFC 5802/7677), with
// tls-server-end-point channel binding (SCRAM-SHA-256-PLUS, RFC 5929) over
// TLS. SASLprep is not applied: ASCII passwords are unaffected.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { children, oidText, tlv } from "./der.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const md5Hex = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");

/** "md5" + md5(md5(password + user) + salt), as the server expects. */
export function md5Password(user: string, password: string, salt: Uint8Array): Uint8Array {
  const inner = md5Hex(password + user);
  const outer = createHash("md5").update(inner).update(salt).digest("hex");
  return encoder.encode("md5" + outer);
}

export class ScramError extends Error {
  override name = "ScramError";
}

/**
 * The GS2 channel binding flag: "n" (client cannot bind), "y" (client could,
 * server did not offer -PLUS) or binding data for "p=tls-server-end-point".
 */
export type ChannelBindingFlag = "n" | "y" | { endPoint: Uint8Array };

/** One SCRAM-SHA-256 exchange: clientFirst → serverFirst → clientFinal → verify. */
export class ScramClient {
  readonly #nonce: string;
  readonly #password: string;
  readonly #binding: ChannelBindingFlag;
  #clientFirstBare = "";
  #serverSignature: Buffer | null = null;
  #verified = false;

  constructor(
    password: string,
    binding: ChannelBindingFlag = "n",
    nonce = randomBytes(18).toString("base64"),
  ) {
    this.#password = password;
    this.#binding = binding;
    this.#nonce = nonce;
  }

  get mechanism(): string {
    return typeof this.#binding === "object" ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  }

  /** True once the server's signature checked out with channel binding in use. */
  get channelBound(): boolean {
    return this.#verified && typeof this.#binding === "object";
  }

  #gs2Header(): string {
    return typeof this.#binding === "object" ? "p=tls-server-end-point,," : `${this.#binding},,`;
  }

  clientFirst(): Uint8Array {
    // The server takes the user name from the startup message.
    this.#clientFirstBare = `n=*,r=${this.#nonce}`;
    return encoder.encode(`${this.#gs2Header()}${this.#clientFirstBare}`);
  }

  clientFinal(serverFirstBytes: Uint8Array): Uint8Array {
    const serverFirst = decoder.decode(serverFirstBytes);
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get("r");
    const salt = attrs.get("s");
    const iterations = Number(attrs.get("i"));
    if (nonce === undefined || !nonce.startsWith(this.#nonce) || nonce === this.#nonce) {
      throw new ScramError("SCRAM: server nonce does not extend the client nonce");
    }
    if (salt === undefined || !(iterations > 0)) {
      throw new ScramError("SCRAM: malformed server-first-message");
    }
    const salted = pbkdf2Sync(
      this.#password,
      Buffer.from(salt, "base64"),
      iterations,
      32,
      "sha256",
    );
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const header = encoder.encode(this.#gs2Header());
    const cbind = typeof this.#binding === "object"
      ? Buffer.concat([header, this.#binding.endPoint])
      : Buffer.from(header);
    const withoutProof = `c=${cbind.toString("base64")},r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ signature[i];
    this.#serverSignature = hmac(hmac(salted, "Server Key"), authMessage);
    return encoder.encode(`${withoutProof},p=${proof.toString("base64")}`);
  }

  verifyServerFinal(serverFinalBytes: Uint8Array): void {
    const attrs = parseAttributes(decoder.decode(serverFinalBytes));
    const error = attrs.get("e");
    if (error !== undefined) throw new ScramError(`SCRAM: server error: ${error}`);
    const v = attrs.get("v");
    const expected = this.#serverSignature;
    if (v === undefined || expected === null) {
      throw new ScramError("SCRAM: malformed server-final-message");
    }
    const got = Buffer.from(v, "base64");
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ScramError("SCRAM: incorrect server signature");
    }
    this.#verified = true;
  }
}

function hmac(key: Uint8Array, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function parseAttributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) attrs.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return attrs;
}

const HASH_BY_SIGNATURE_OID: Record<string, string> = {
  "1.2.840.113549.1.1.4": "sha256", // md5WithRSAEncryption: MD5 and SHA-1 become SHA-256
  "1.2.840.113549.1.1.5": "sha256", // sha1WithRSAEncryption
  "1.2.840.10045.4.1": "sha256", // ecdsa-with-SHA1
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

/**
 * tls-server-end-point (RFC 5929): the server certificate hashed with its
 * signature's hash (SHA-256 for MD5/SHA-1), as libpq computes it.
 */
export function tlsServerEndPoint(certDer: Uint8Array): Uint8Array {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, ... }, ... }
  const [, algorithm] = children(certDer, tlv(certDer, 0));
  const oid = children(certDer, algorithm)[0];
  const name = oidText(certDer.subarray(oid.contentStart, oid.end));
  const hash = HASH_BY_SIGNATURE_OID[name];
  if (hash === undefined) {
    throw new ScramError(`could not find digest for the certificate's signature algorithm ${name}`);
  }
  return new Uint8Array(createHash(hash).update(certDer).digest());
}
