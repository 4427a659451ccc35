// Server errors rendered the way libpq's PQresultErrorMessage does with the
// default verbosity: "ERROR:  message\nLINE n: ...\n        ^\nDETAIL:  ...\n".

const DISPLAY_SIZE = 60; // libpq's screen width for the LINE excerpt
const MIN_RIGHT_CUT = 10;

export function formatServerError(fields: Map<string, string>, query: string | null): string {
  const severity = fields.get("S") ?? fields.get("V") ?? "ERROR";
  let out = `${severity}:  ${fields.get("M") ?? ""}`;
  const position = fields.get("P");
  const internalPosition = fields.get("p");
  let excerpt = "";
  if (position !== undefined) {
    const loc = Number(position);
    excerpt = query !== null ? errorPosition(query, loc) : "";
    if (excerpt === "") out += ` at character ${position}`;
  } else if (internalPosition !== undefined) {
    const internalQuery = fields.get("q");
    excerpt = internalQuery !== undefined
      ? errorPosition(internalQuery, Number(internalPosition))
      : "";
    if (excerpt === "") out += ` at character ${internalPosition}`;
  }
  out += "\n" + excerpt;
  const detail = fields.get("D");
  if (detail !== undefined) out += `DETAIL:  ${detail}\n`;
  const hint = fields.get("H");
  if (hint !== undefined) out += `HINT:  ${hint}\n`;
  const internalQuery = fields.get("q");
  if (internalQuery !== undefined) out += `QUERY:  ${internalQuery}\n`;
  const context = fields.get("W");
  // libpq shows CONTEXT for errors only (PQSHOW_CONTEXT_ERRORS).
  if (context !== undefined && /^(ERROR|FATAL|PANIC)$/.test(fields.get("V") ?? severity)) {
    out += `CONTEXT:  ${context}\n`;
  }
  return out;
}

/** "LINE n: <text>\n<spaces>^\n" for a 1-based character position, "" if out of range. */
export function errorPosition(query: string, loc: number): string {
  const chars = Array.from(query);
  if (!(loc >= 1 && loc <= chars.length + 1)) return "";
  const at = loc - 1;
  let lineNo = 1;
  let lineStart = 0;
  for (let i = 0; i < at && i < chars.length; i++) {
    if (chars[i] === "\n") {
      lineNo++;
      lineStart = i + 1;
    }
  }
  let lineEnd = lineStart;
  while (lineEnd < chars.length && chars[lineEnd] !== "\n" && chars[lineEnd] !== "\r") lineEnd++;
  let line = chars.slice(lineStart, lineEnd).map((c) => (c === "\t" ? " " : c));
  let col = at - lineStart;
  let prefix = "";
  let suffix = "";
  if (line.length > DISPLAY_SIZE) {
    if (col <= DISPLAY_SIZE - MIN_RIGHT_CUT) {
      line = line.slice(0, DISPLAY_SIZE);
      suffix = "...";
    } else {
      const start = Math.min(col + MIN_RIGHT_CUT, line.length) - DISPLAY_SIZE;
      line = line.slice(start, start + DISPLAY_SIZE);
      col -= start;
      prefix = "...";
      if (start + DISPLAY_SIZE < lineEnd - lineStart) suffix = "...";
    }
  }
  const head = `LINE ${lineNo}: ${prefix}`;
  return `${head}${line.join("")}${suffix}\n${" ".repeat(head.length + col)}^\n`;
}

/** Pre-send failures as Lua sees them: whitespace runs collapsed to one space. */
export function collapseWhitespace(message: string): string {
  return message.replace(/\s+/g, " ").trim();
}
