// The Lua global `sodium` (spec §4): plain functions (dot call) over
// libsodium-wrappers, binary-safe, with upstream's argument checks and
// nil / no-value results.
import sodiumModule from "libsodium-wrappers";
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import { checkBytes, checkMaxArgs, pushBytes, raiseWhere } from "./lua_values.ts";

// deno-lint-ignore no-explicit-any
const sodium: any = sodiumModule;

const MAX_RANDOM_BYTES = 1048576;
const BOX_PUBLIC_KEY = 32;
const BOX_SECRET_KEY = 32;
const SEAL_OVERHEAD = 48;
const SIGN_PUBLIC_KEY = 32;
const SIGN_SECRET_KEY = 64;
const SIGNATURE = 64;

let ready: Promise<void> | null = null;

/** Initialises libsodium once per process; await before installSodium. */
export function sodiumReady(): Promise<void> {
  ready ??= sodium.ready;
  return ready!;
}

const HEX = "0123456789abcdef";
const HEX_CODES = new Uint8Array(HEX.length);
for (let i = 0; i < HEX.length; i++) HEX_CODES[i] = HEX.charCodeAt(i);

/** Lowercase hex of bytes, as Lua string bytes. */
export function bytesToHex(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_CODES[bytes[i] >> 4];
    out[2 * i + 1] = HEX_CODES[bytes[i] & 15];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Bytes of a hex text (either case), or null for odd length or any non-hex byte. */
export function hexToBytes(hex: Uint8Array): Uint8Array | null {
  if (hex.length % 2 !== 0) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(hex[2 * i]);
    const lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function bin2hex(L: LuaState): number {
  checkMaxArgs(L, 1);
  pushBytes(L, bytesToHex(checkBytes(L, 1)));
  return 1;
}

function hex2bin(L: LuaState): number {
  checkMaxArgs(L, 1);
  const bytes = hexToBytes(checkBytes(L, 1));
  if (bytes === null) return 0;
  pushBytes(L, bytes);
  return 1;
}

function randombytes(L: LuaState): number {
  checkMaxArgs(L, 1);
  const n: number = lauxlib.luaL_checkinteger(L, 1);
  if (n < 1) raiseWhere(L, "Size is too small");
  if (n > MAX_RANDOM_BYTES) raiseWhere(L, "Size is too large");
  pushBytes(L, sodium.randombytes_buf(n));
  return 1;
}

function cryptoBoxKeypair(L: LuaState): number {
  checkMaxArgs(L, 0);
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  pushBytes(L, publicKey);
  pushBytes(L, privateKey);
  return 2;
}

function cryptoBoxSeal(L: LuaState): number {
  checkMaxArgs(L, 2);
  const message = checkBytes(L, 1);
  const pk = checkBytes(L, 2);
  if (pk.length !== BOX_PUBLIC_KEY) raiseWhere(L, "Malformed public key");
  pushBytes(L, sodium.crypto_box_seal(message, pk));
  return 1;
}

function cryptoBoxSealOpen(L: LuaState): number {
  checkMaxArgs(L, 3);
  const ciphertext = checkBytes(L, 1);
  const pk = checkBytes(L, 2);
  const sk = checkBytes(L, 3);
  if (ciphertext.length < SEAL_OVERHEAD) raiseWhere(L, "Malformed ciphertext");
  if (pk.length !== BOX_PUBLIC_KEY) raiseWhere(L, "Malformed public key");
  if (sk.length !== BOX_SECRET_KEY) raiseWhere(L, "Malformed secret key");
  let plain: Uint8Array;
  try {
    plain = sodium.crypto_box_seal_open(ciphertext, pk, sk);
  } catch {
    return 0; // decryption failed: no value
  }
  pushBytes(L, plain);
  return 1;
}

function cryptoScalarmultBase(L: LuaState): number {
  checkMaxArgs(L, 1);
  const sk = checkBytes(L, 1);
  if (sk.length !== BOX_SECRET_KEY) raiseWhere(L, "Malformed secret key");
  pushBytes(L, sodium.crypto_scalarmult_base(sk));
  return 1;
}

function cryptoSignKeypair(L: LuaState): number {
  checkMaxArgs(L, 0);
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  pushBytes(L, publicKey);
  pushBytes(L, privateKey);
  return 2;
}

function cryptoSignDetached(L: LuaState): number {
  checkMaxArgs(L, 2);
  const message = checkBytes(L, 1);
  const sk = checkBytes(L, 2);
  if (sk.length !== SIGN_SECRET_KEY) raiseWhere(L, "Malformed secret key");
  pushBytes(L, sodium.crypto_sign_detached(message, sk));
  return 1;
}

function cryptoSignVerifyDetached(L: LuaState): number {
  checkMaxArgs(L, 3);
  const signature = checkBytes(L, 1);
  const message = checkBytes(L, 2);
  const pk = checkBytes(L, 3);
  if (pk.length !== SIGN_PUBLIC_KEY) raiseWhere(L, "Malformed public key");
  if (signature.length !== SIGNATURE) return 0;
  let ok = false;
  try {
    ok = sodium.crypto_sign_verify_detached(signature, message, pk) === true;
  } catch {
    ok = false; // e.g. a public key that is not a curve point
  }
  lua.lua_pushboolean(L, ok);
  return 1;
}

const FUNCTIONS: Record<string, (L: LuaState) => number> = {
  bin2hex,
  hex2bin,
  randombytes,
  crypto_box_keypair: cryptoBoxKeypair,
  crypto_box_seal: cryptoBoxSeal,
  crypto_box_seal_open: cryptoBoxSealOpen,
  crypto_scalarmult_base: cryptoScalarmultBase,
  crypto_sign_keypair: cryptoSignKeypair,
  crypto_sign_detached: cryptoSignDetached,
  crypto_sign_verify_detached: cryptoSignVerifyDetached,
};

/** Installs the global `sodium`; sodiumReady() must have resolved. */
export function installSodium(L: LuaState): void {
  lua.lua_createtable(L, 0, Object.keys(FUNCTIONS).length);
  for (const [name, fn] of Object.entries(FUNCTIONS)) {
    lua.lua_pushcfunction(L, fn);
    lua.lua_setfield(L, -2, to_luastring(name));
  }
  lua.lua_setglobal(L, to_luastring("sodium"));
}
