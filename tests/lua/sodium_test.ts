// sodium.* through the real Lua runtime (spec §4, §7 tests 1-10).
import { assertEquals } from "../assert.ts";
import { type Case, newTestRuntime, runCases } from "./lua_test_helpers.ts";

const RFC7748_SK = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const RFC7748_PK = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIG =
  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

const S = "local s = sodium; ";
const SIGN_SETUP = `${S} local sk = s.hex2bin("${RFC8032_SEED}${RFC8032_PK}"); ` +
  `local pk = s.hex2bin("${RFC8032_PK}"); local sig = s.hex2bin("${RFC8032_SIG}"); `;

const CASES: Case[] = [
  // 1. bin2hex
  {
    code: `${S} return s.bin2hex("A\\0\\255"), s.bin2hex(""), s.bin2hex(123)`,
    values: ["4100ff", "", "313233"],
  },
  { code: `${S} return s.bin2hex({})`, error: /bad argument #1 to 'bin2hex'/ },
  // 2. hex2bin, both cases
  {
    code: `${S} return s.hex2bin("deadbeef"), s.hex2bin("DEADBEEF"), s.hex2bin("")`,
    values: ["\xde\xad\xbe\xef", "\xde\xad\xbe\xef", ""],
  },
  // 3. invalid hex: no value at all, no error
  {
    code:
      `${S} return select('#', s.hex2bin("abc")), select('#', s.hex2bin("zz")), select('#', s.hex2bin("de ad")), select('#', s.hex2bin("dead\\n"))`,
    values: [0, 0, 0, 0],
  },
  { code: `${S} local b = s.hex2bin("zz"); return b`, values: [null] },
  // 4. arity
  { code: `${S} return s.bin2hex("a", "b")`, error: /Too many parameters/ },
  { code: `${S} return s.crypto_box_keypair(1)`, error: /Too many parameters/ },
  { code: `${S} return s.crypto_box_seal_open("a", "b", "c", "d")`, error: /Too many parameters/ },
  // 5. randombytes
  {
    code:
      `${S} return #s.randombytes(32), #s.randombytes(1048576), s.randombytes(16) ~= s.randombytes(16)`,
    values: [32, 1048576, true],
  },
  { code: `${S} return s.randombytes(0)`, error: /Size is too small/ },
  { code: `${S} return s.randombytes(1048577)`, error: /Size is too large/ },
  // luaL_checkinteger truncates, as under LuaJIT (spec 5.5)
  { code: `${S} return #s.randombytes(2.5)`, values: [2] },
  // 6. RFC 7748 X25519 base point multiplication
  {
    code: `${S} return s.bin2hex(s.crypto_scalarmult_base(s.hex2bin("${RFC7748_SK}")))`,
    values: [RFC7748_PK],
  },
  { code: `${S} return s.crypto_scalarmult_base(("x"):rep(31))`, error: /Malformed secret key/ },
  // 7. box keypair
  {
    code:
      `${S} local pk, sk = s.crypto_box_keypair(); return #pk, #sk, s.crypto_scalarmult_base(sk) == pk`,
    values: [32, 32, true],
  },
  // 8. sealed boxes
  {
    code:
      `${S} local pk, sk = s.crypto_box_keypair(); local c = s.crypto_box_seal("hello world", pk); ` +
      `local _, other = s.crypto_box_keypair(); ` +
      `return #c, s.crypto_box_seal_open(c, pk, sk), select('#', s.crypto_box_seal_open(c, pk, other))`,
    values: [59, "hello world", 0],
  },
  {
    code: `${S} local pk, sk = s.crypto_box_keypair(); local m = "\\0bin\\255ary\\0"; ` +
      `return s.crypto_box_seal_open(s.crypto_box_seal(m, pk), pk, sk) == m`,
    values: [true],
  },
  // 9. malformed inputs, checked in order
  {
    code:
      `${S} local pk, sk = s.crypto_box_keypair(); return s.crypto_box_seal_open(("x"):rep(47), pk, sk)`,
    error: /Malformed ciphertext/,
  },
  {
    code:
      `${S} local pk, sk = s.crypto_box_keypair(); return s.crypto_box_seal_open(("x"):rep(48), pk, sk)`,
    values: [],
  },
  {
    code: `${S} return s.crypto_box_seal_open(("x"):rep(47), "short", "short")`,
    error: /Malformed ciphertext/,
  },
  {
    code: `${S} return s.crypto_box_seal_open(("x"):rep(48), "short", "short")`,
    error: /Malformed public key/,
  },
  {
    code: `${S} return s.crypto_box_seal_open(("x"):rep(48), ("p"):rep(32), "short")`,
    error: /Malformed secret key/,
  },
  { code: `${S} return s.crypto_box_seal("m", ("x"):rep(31))`, error: /Malformed public key/ },
  // 10. RFC 8032 test 1 (Ed25519), sk = seed || pk
  { code: `${SIGN_SETUP} return s.bin2hex(s.crypto_sign_detached("", sk))`, values: [RFC8032_SIG] },
  {
    code:
      `${SIGN_SETUP} return s.crypto_sign_verify_detached(sig, "", pk), s.crypto_sign_verify_detached(sig, "x", pk)`,
    values: [true, false],
  },
  {
    code: `${SIGN_SETUP} return select('#', s.crypto_sign_verify_detached(sig:sub(1, 63), "", pk))`,
    values: [0],
  },
  {
    code: `${SIGN_SETUP} return s.crypto_sign_verify_detached(sig:sub(1, 63), "", "short")`,
    error: /Malformed public key/,
  },
  {
    code: `${SIGN_SETUP} return s.crypto_sign_detached("", sk:sub(1, 32))`,
    error: /Malformed secret key/,
  },
  {
    code:
      `${S} local pk, sk = s.crypto_sign_keypair(); local sig = s.crypto_sign_detached("msg\\0", sk); ` +
      `return #pk, #sk, #sig, s.crypto_sign_verify_detached(sig, "msg\\0", pk), s.crypto_sign_verify_detached(sig, "msg", pk)`,
    values: [32, 64, 64, true, false],
  },
];

Deno.test("sodium functions behave as spec §4 / §7 tests 1-10", async () => {
  const { L, runtime } = await newTestRuntime();
  try {
    assertEquals(runCases(L, CASES), []);
  } finally {
    await runtime.close();
  }
});

Deno.test("sodium errors carry the caller's file:line like luaL_error", async () => {
  const { L, runtime } = await newTestRuntime();
  try {
    assertEquals(
      runCases(L, [{
        code: `return sodium.randombytes(0)`,
        error: /^snippet:1: Size is too small$/,
      }]),
      [],
    );
  } finally {
    await runtime.close();
  }
});
