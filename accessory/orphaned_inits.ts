// Finds the inits a previous run of this daemon instance left behind.
import { adoptableName, type InitFacts } from "./init_marker.ts";

function read(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

function facts(pid: string): InitFacts | null {
  const comm = read(`/proc/${pid}/comm`);
  if (comm === null || !(comm.startsWith("init-") || comm.startsWith("i-"))) return null;
  const environ = read(`/proc/${pid}/environ`);
  const status = read(`/proc/${pid}/status`);
  let exe: string;
  try {
    exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
  const nspid = status?.split("\n").find((l) => l.startsWith("NSpid:"));
  if (environ === null || nspid === undefined) return null;
  return { environ, comm: comm.trimEnd(), nspid, exe };
}

/** pid -> NAME of every process that looks like an init of `instance`. */
export function findOrphanedInits(instance: string, sleepPath: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    const f = facts(entry.name);
    if (f === null) continue;
    const name = adoptableName(f, instance, sleepPath);
    if (name !== null) found.set(Number(entry.name), name);
  }
  return found;
}

/** NAME if `pid` (still) is an init of `instance`. */
export function findOrphanedInitName(
  pid: number,
  instance: string,
  sleepPath: string,
): string | null {
  const f = facts(String(pid));
  return f === null ? null : adoptableName(f, instance, sleepPath);
}
