// Finding the cgroup2 hierarchy from /proc/self/mountinfo (programs.md).

/** Undoes mountinfo's octal escapes (\040 for space, \011, \012, \134). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mount point of the first cgroup2 mount in mountinfo text, preferring
 * one that shows the hierarchy's root ("/"), or null.
 */
export function parseCgroup2Mount(mountinfo: string): string | null {
  let fallback: string | null = null;
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const after = line.slice(sep + 3).split(" ");
    if (after[0] !== "cgroup2") continue;
    const before = line.slice(0, sep).split(" ");
    if (before.length < 5) continue;
    const mountPoint = unescapeMountField(before[4]);
    if (before[3] === "/") return mountPoint;
    fallback ??= mountPoint;
  }
  return fallback;
}

/** The cgroup2 mount of this process, or null if there is none. */
export function findCgroup2Root(mountinfoPath = "/proc/self/mountinfo"): string | null {
  return parseCgroup2Mount(Deno.readTextFileSync(mountinfoPath));
}
