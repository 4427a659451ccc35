import { assertEquals } from "../assert.ts";
import {
  collapseWhitespace,
  errorPosition,
  formatServerError,
} from "../../reaper/pg/error_format.ts";

const fields = (o: Record<string, string>) => new Map(Object.entries(o));

Deno.test("server errors read like libpq's, with LINE and caret", () => {
  assertEquals(
    formatServerError(
      fields({ S: "ERROR", V: "ERROR", M: 'syntax error at or near "SELEC"', P: "1" }),
      "SELEC 1",
    ),
    'ERROR:  syntax error at or near "SELEC"\nLINE 1: SELEC 1\n        ^\n',
  );
  assertEquals(
    formatServerError(
      fields({ S: "ERROR", M: "boom", D: "the detail", H: "a hint", W: "PL/pgSQL function f()" }),
      "SELECT f()",
    ),
    "ERROR:  boom\nDETAIL:  the detail\nHINT:  a hint\nCONTEXT:  PL/pgSQL function f()\n",
  );
  // Without the query text the position is given as a number.
  assertEquals(
    formatServerError(fields({ S: "ERROR", M: "x", P: "3" }), null),
    "ERROR:  x at character 3\n",
  );
});

Deno.test("error position: later lines, tabs, long lines cut with ellipses", () => {
  assertEquals(errorPosition("SELECT 1,\n\tfoo", 12), "LINE 2:  foo\n         ^\n");
  const long = "SELECT " + "x".repeat(100) + " bad";
  const text = errorPosition(long, long.length - 2);
  assertEquals(text.startsWith("LINE 1: ..."), true);
  const [line, caret] = text.split("\n");
  assertEquals(line[caret.length - 1], "b");
  assertEquals(errorPosition("abc", 99), "");
});

Deno.test("collapseWhitespace joins lines with single spaces", () => {
  assertEquals(collapseWhitespace("a\n\tb  c\n"), "a b c");
});
