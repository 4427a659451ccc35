// Issue 10: random arithmetic and formatting expressions over the values
// where fengari's Lua 5.3 and LuaJIT part ways (near 2^31, 2^32, 2^53, -0,
// inf, nan, fractions), compared with real LuaJIT. Each fast-check run is a
// batch of expressions evaluated in one luajit process and one Lua state;
// 2 x 40 runs x 50 = 4,000 cases: one fixed seed, one random seed (printed,
// and named in the failure, so that a failure can be replayed).
import fc from "fast-check";
import { runLuaJit, runOurs } from "./luajit_oracle.ts";

const BATCH = 50;
const RUNS = 40;
const FIXED_SEED = 20261129;

const SPECIAL = [
  "0",
  "-0",
  "1",
  "-1",
  "2",
  "3",
  "7",
  "10",
  "0.5",
  "-2.5",
  "0.1",
  "1/3",
  "2^31",
  "2^31 - 1",
  "-2^31",
  "-2^31 - 1",
  "2^32",
  "2^32 - 1",
  "2^32 + 1",
  "2^53",
  "2^53 - 1",
  "2^53 + 2",
  "-2^53",
  "2^63",
  "2^64",
  "3000000000",
  "4294967295",
  "0xffffffff",
  "1e15",
  "1e16",
  "1e21",
  "1e300",
  "5e-324",
  "1/0",
  "-1/0",
  "0/0",
  "1764417600",
  "1048576",
];

/** A double as a Lua expression both parsers read the same. */
function literal(x: number): string {
  if (Number.isNaN(x)) return "(0/0)";
  if (x === Infinity) return "(1/0)";
  if (x === -Infinity) return "(-1/0)";
  if (Object.is(x, -0)) return "(-0)";
  const s = x.toPrecision(17);
  return x < 0 ? `(${s})` : s;
}

const leaf: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...SPECIAL).map((s) => `(${s})`) },
  { weight: 2, arbitrary: fc.integer({ min: -5000000000, max: 5000000000 }).map(literal) },
  { weight: 1, arbitrary: fc.double().map(literal) },
);

const BINARY = ["+", "-", "*", "/", "%"];
const UNARY_MATH = ["floor", "ceil", "abs", "sqrt"];
const BINARY_MATH = ["fmod", "max", "min"];
// exp, log10 and pow (also `^`) come from V8 here and from glibc's libm in
// LuaJIT; they may differ in the last bit (README). Their results are
// rounded to 10 digits, which keeps inf, nan and -0 but not that bit.
const rounded = (e: string) => `tonumber(string.format("%.10g", ${e}))`;

const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.tuple(tie("e"), fc.constantFrom(...BINARY), tie("e")).map(([a, op, b]) =>
      `(${a} ${op} ${b})`
    ),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => rounded(`(${a} ^ ${b})`)),
    tie("e").map((a) => `(-${a})`),
    fc.tuple(fc.constantFrom(...UNARY_MATH), tie("e")).map(([f, a]) => `math.${f}(${a})`),
    fc.tuple(fc.constantFrom("exp", "log10"), tie("e")).map(([f, a]) => rounded(`math.${f}(${a})`)),
    fc.tuple(fc.constantFrom(...BINARY_MATH), tie("e"), tie("e")).map(([f, a, b]) =>
      `math.${f}(${a}, ${b})`
    ),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => rounded(`math.pow(${a}, ${b})`)),
    tie("e").map((a) => `(math.modf(${a}))`),
    tie("e").map((a) => `tonumber(tostring(${a}))`),
  ),
})).e;

const spec: fc.Arbitrary<string> = fc.tuple(
  fc.subarray(["-", "+", " ", "#", "0"]),
  fc.option(fc.integer({ min: 0, max: 40 })),
  fc.option(fc.integer({ min: 0, max: 25 })),
  fc.constantFrom("d", "i", "o", "u", "x", "X", "e", "E", "f", "F", "g", "G", "a", "A", "s", "c"),
).map(([flags, width, precision, conv]) => {
  // C leaves '#' and '0' with %c and %s undefined: only flags C defines for them.
  const f = conv === "c" || conv === "s" ? flags.filter((x) => x === "-") : flags;
  // LuaJIT pads some %g of 9 or more digits in exponent form too little
  // (README "What still differs from LuaJIT"): with a width, %g gets at most
  // 8 digits here; without one, any precision (the digits are the same).
  const p = (conv === "g" || conv === "G") && width !== null && precision !== null
    ? Math.min(precision, 8)
    : precision;
  return "%" + f.join("") + (width ?? "") + (p === null ? "" : "." + p) + conv;
});

/** One case: a Lua expression whose value is printed. */
const testCase: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: expr },
  { weight: 4, arbitrary: fc.tuple(spec, expr).map(([s, e]) => `string.format("${s}", ${e})`) },
  {
    weight: 2,
    arbitrary: fc.tuple(expr, fc.constantFrom("<", "<=", "==", "~="), expr).map(([a, op, b]) =>
      `(${a} ${op} ${b})`
    ),
  },
  { weight: 1, arbitrary: expr.map((e) => `(${e}) .. ""`) },
  {
    weight: 1,
    arbitrary: expr.map((e) => `(function() local t = {} t[${e}] = 1 return next(t) end)()`),
  },
);

function program(cases: string[]): Uint8Array {
  const lines = cases.map((c) =>
    `do local ok, v = pcall(function() return ${c} end) print(ok and tostring(v) or "error") end`
  );
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

const batchMatches = fc.asyncProperty(
  fc.array(testCase, { minLength: BATCH, maxLength: BATCH }),
  async (cases) => {
    const source = program(cases);
    const [theirs, ours] = await Promise.all([runLuaJit(source), runOurs(source)]);
    if (theirs.error !== "" || ours.error !== "") {
      throw new Error(`run failed: luajit ${theirs.error} ours ${ours.error}`);
    }
    const a = ours.output.split("\n");
    const b = theirs.output.split("\n");
    for (let i = 0; i < cases.length; i++) {
      if (a[i] !== b[i]) {
        throw new Error(
          `${cases[i]}\n  luajit: ${JSON.stringify(b[i])}\n  ours:   ${JSON.stringify(a[i])}`,
        );
      }
    }
  },
);

Deno.test(`${RUNS * BATCH} random expressions match LuaJIT (fixed seed ${FIXED_SEED})`, async () => {
  await fc.assert(batchMatches, { seed: FIXED_SEED, numRuns: RUNS, endOnFailure: true });
});

Deno.test(`${RUNS * BATCH} random expressions match LuaJIT (random seed)`, async () => {
  const seed = Date.now() ^ (Math.random() * 0x7fffffff);
  try {
    await fc.assert(batchMatches, { seed, numRuns: RUNS, endOnFailure: true });
  } catch (e) {
    console.error(`luajit property test failed with seed ${seed} (set FIXED_SEED to replay)`);
    throw e;
  }
});
