// The password file (~/.pgpass, passfile, PGPASSFILE) with libpq's rules:
// lines host:port:database:username:password, "*" alone matches anything,
// backslash escapes ":" and "\", the first matching line wins, and a file
// that group or others may read is ignored with a warning.

/** One field against a value; returns the rest of the line after the field's ":", or null. */
function matchField(line: string, at: number, value: string): number | null {
  if (line[at] === "*" && line[at + 1] === ":") return at + 2;
  let i = at;
  let j = 0;
  while (i < line.length && line[i] !== ":") {
    if (line[i] === "\\" && i + 1 < line.length) i++;
    if (j >= value.length || line[i] !== value[j]) return null;
    i++;
    j++;
  }
  return line[i] === ":" && j === value.length ? i + 1 : null;
}

/** The password of the first line matching, or null (libpq's passwordFromFile). */
export function findPassword(
  text: string,
  host: string,
  port: string,
  dbname: string,
  user: string,
): string | null {
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    let at: number | null = 0;
    for (const value of [host, port, dbname, user]) {
      at = matchField(line, at, value);
      if (at === null) break;
    }
    if (at === null) continue;
    // De-escape the password (libpq 13+).
    let password = "";
    for (let i = at; i < line.length; i++) {
      if (line[i] === "\\" && i + 1 < line.length) i++;
      password += line[i];
    }
    return password;
  }
  return null;
}

/**
 * Reads the password file, or returns null (missing, not a plain file, or
 * readable by group/others: then `warn` is told, like libpq's stderr warning).
 */
export function readPassfile(path: string, warn: (message: string) => void): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return null;
  }
  if (!info.isFile) {
    warn(`password file "${path}" is not a plain file`);
    return null;
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    warn(
      `password file "${path}" has group or world access; permissions should be u=rw (0600) or less`,
    );
    return null;
  }
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}
