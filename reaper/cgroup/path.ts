// Cgroup paths as the reaper uses them: relative to the cgroup2 root, with a
// leading "/" and no trailing "/" ("/" is the root itself).

/** Normalizes a user-given cgroup path; throws naming the value if unusable. */
export function normalizeCgroupPath(value: string, what: string): string {
  const parts = value.split("/").filter((p) => p !== "");
  for (const p of parts) {
    if (p === "." || p === "..") {
      throw new Error(`${what} '${value}' must not contain '.' or '..'`);
    }
    if (p.includes("\0")) throw new Error(`${what} '${value}' contains a NUL byte`);
  }
  return "/" + parts.join("/");
}

/** "/a" + "b" -> "/a/b"; "/" + "b" -> "/b". */
export function childPath(parent: string, name: string): string {
  return parent === "/" ? "/" + name : parent + "/" + name;
}

/** The components of a normalized path; [] for "/". */
export function pathComponents(path: string): string[] {
  return path === "/" ? [] : path.slice(1).split("/");
}

/** Whether path lies strictly below ancestor (both normalized). */
export function isBelow(path: string, ancestor: string): boolean {
  if (ancestor === "/") return path !== "/";
  return path.startsWith(ancestor + "/");
}

/**
 * The stats line's "<suffix>": the path after the scope prefix and its "/"
 * (§3.4), e.g. "foo/bar"; without a scope, the path after the root's "/".
 */
export function statsSuffix(path: string, scope: string | null): string {
  if (scope !== null && isBelow(path, scope)) {
    return path.slice(scope === "/" ? 1 : scope.length + 1);
  }
  return path.slice(1);
}

/** UTF-8 byte order of two strings (= code point order, not UTF-16 order). */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (supplementary code points) sort above every BMP character.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Deletion order: reverse byte order, so children come before parents (spec test 42). */
export function deletionOrder(paths: Iterable<string>): string[] {
  return [...paths].sort((a, b) => compareBytes(b, a));
}
