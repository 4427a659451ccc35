// Issue 10: scripts compute exactly what they compute under LuaJIT. Every
// file of tests/lua/luajit_corpus/ runs in real LuaJIT and in our runtime;
// the outputs must be identical line by line (numbers near 2^31, 2^32, 2^53,
// -0, inf, nan; string.format; os.date/os.time; tonumber; string and table
// functions; setfenv/module).
import { assert, assertEquals } from "../assert.ts";
import { compareLines, runLuaJit, runOurs } from "./luajit_oracle.ts";

const CORPUS = new URL("./luajit_corpus/", import.meta.url);
const files = [...Deno.readDirSync(CORPUS)].map((e) => e.name).filter((n) => n.endsWith(".lua"))
  .sort();

let compared = 0;

for (const name of files) {
  Deno.test(`luajit corpus ${name}: identical output`, async () => {
    const source = Deno.readFileSync(new URL(name, CORPUS));
    const theirs = await runLuaJit(source);
    assertEquals(theirs.error, "", `luajit failed on ${name}`);
    const ours = await runOurs(source);
    assertEquals(ours.error, "", `our runtime failed on ${name}`);
    compared += compareLines(ours.output, theirs.output, name);
  });
}

// Local time depends on the zone: the date functions again in zones with
// DST (both hemispheres), a half-hour DST and a non-hour offset.
for (const tz of ["Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]) {
  Deno.test(`luajit corpus stdlib.lua under TZ=${tz}: identical output`, async () => {
    const source = Deno.readFileSync(new URL("stdlib.lua", CORPUS));
    const theirs = await runLuaJit(source, { TZ: tz });
    assertEquals(theirs.error, "");
    const ours = await runOurs(source, { TZ: tz });
    assertEquals(ours.error, "");
    compared += compareLines(ours.output, theirs.output, `stdlib.lua TZ=${tz}`);
  });
}

Deno.test("the corpus compares at least 300 lines", () => {
  console.log(`compared ${compared} lines with luajit`);
  assert(compared >= 300, `only ${compared} lines compared`);
});
