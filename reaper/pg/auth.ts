// Password authentication: MD5 and SCRAM-SHA-256 (RFC 5802/7677, without
// channel binding). SASLprep is not applied: ASCII passwords are unaffected.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";

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

/** One SCRAM-SHA-256 exchange: clientFirst → serverFirst → clientFinal → verify. */
export class ScramClient {
  readonly #nonce: string;
  readonly #password: string;
  #clientFirstBare = "";
  #serverSignature: Buffer | null = null;

  constructor(password: string, nonce = randomBytes(18).toString("base64")) {
    this.#password = password;
    this.#nonce = nonce;
  }

  clientFirst(): Uint8Array {
    // The server takes the user name from the startup message.
    this.#clientFirstBare = `n=*,r=${this.#nonce}`;
    return encoder.encode(`n,,${this.#clientFirstBare}`);
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
    const withoutProof = `c=biws,r=${nonce}`;
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
