// The accounting files of a cgroup and how they parse (spec §2 "Parsing").
// Pure: the caller supplies a reader, so this runs without a cgroup.
import type { CgroupStats } from "../hook.ts";

/** Read limits: single-value files and multi-line (keyed) files. */
export const SINGLE_VALUE_LIMIT = 64;
export const MULTI_LINE_LIMIT = 4096;

const U32_MAX = 0xffffffffn;
const U64_MAX = 0xffffffffffffffffn;

export type FileResult =
  | { kind: "ok"; text: string }
  | { kind: "missing" }
  | { kind: "error"; message: string; errno?: number };

/** Reads at most `limit` bytes of a file of the cgroup from offset 0. */
export type FileReader = (name: string, limit: number) => FileResult;

/** A complete unsigned decimal no larger than max, else null. */
export function parseUnsigned(text: string, max: bigint): number | null {
  if (text.length === 0 || text.length > 20) return null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  if (text.length < 16) {
    const n = Number(text); // exact below 2^53
    return n > Number(max) ? null : n;
  }
  const n = BigInt(text);
  return n > max ? null : Number(n);
}

/** A single-value file: trailing whitespace stripped, then the whole text. */
export function parseSingleValue(text: string, max: bigint): number | null {
  return parseUnsigned(text.replace(/[ \t\n\v\f\r]+$/, ""), max);
}

/** A multi-line file: each line split at its first space into name and value. */
export function parseKeyedLines(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space < 0) continue;
    map.set(line.slice(0, space), line.slice(space + 1));
  }
  return map;
}

/** cgroup.events: populated unless it says "populated 0" (spec §3.1). */
export function parsePopulated(text: string): boolean {
  return parseKeyedLines(text).get("populated") !== "0";
}

export interface StatsReading {
  stats: CgroupStats;
  /** One line per file that could not be read (cpu.stat only) or was malformed. */
  problems: string[];
}

interface KeyedField {
  key: string;
  max: bigint;
  set: (stats: CgroupStats, value: number) => void;
}

const CPU_FIELDS: KeyedField[] = [
  { key: "usage_usec", max: U64_MAX, set: (s, v) => s.cpuTotal = v / 1e6 },
  { key: "user_usec", max: U64_MAX, set: (s, v) => s.cpuUser = v / 1e6 },
  { key: "system_usec", max: U64_MAX, set: (s, v) => s.cpuSystem = v / 1e6 },
];
const MEMORY_EVENT_FIELDS: KeyedField[] = [
  { key: "high", max: U32_MAX, set: (s, v) => s.memoryEventsHigh = v },
  { key: "max", max: U32_MAX, set: (s, v) => s.memoryEventsMax = v },
  { key: "oom", max: U32_MAX, set: (s, v) => s.memoryEventsOom = v },
];
const PIDS_EVENT_FIELDS: KeyedField[] = [
  { key: "max", max: U32_MAX, set: (s, v) => s.pidsEventsMax = v },
];

export function emptyStats(): CgroupStats {
  return {
    cpuTotal: null,
    cpuUser: null,
    cpuSystem: null,
    memoryPeak: null,
    memoryEventsHigh: null,
    memoryEventsMax: null,
    memoryEventsOom: null,
    pidsPeak: null,
    pidsForks: null,
    pidsEventsMax: null,
  };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + "..." : text);
}

/**
 * Reads cpu.stat, memory.peak, memory.events, pids.peak, pids.forks and
 * pids.events. Missing files leave their fields null silently; a malformed
 * value leaves its field null and adds one problem line for the file.
 */
export function readCgroupStats(read: FileReader): StatsReading {
  const stats = emptyStats();
  const problems: string[] = [];

  const keyed = (name: string, fields: KeyedField[], reportErrors: boolean) => {
    const r = read(name, MULTI_LINE_LIMIT);
    if (r.kind === "error") {
      if (reportErrors) problems.push(`failed to read ${name}: ${r.message}`);
      return;
    }
    if (r.kind === "missing") return;
    const map = parseKeyedLines(r.text);
    const bad: string[] = [];
    for (const f of fields) {
      const raw = map.get(f.key);
      if (raw === undefined) continue;
      const v = parseUnsigned(raw, f.max);
      if (v === null) bad.push(`${f.key} ${quote(raw)}`);
      else f.set(stats, v);
    }
    if (bad.length > 0) problems.push(`malformed ${name}: ${bad.join(", ")}`);
  };

  const single = (name: string, max: bigint, set: (s: CgroupStats, v: number) => void) => {
    const r = read(name, SINGLE_VALUE_LIMIT);
    if (r.kind !== "ok") return;
    const v = parseSingleValue(r.text, max);
    if (v === null) problems.push(`malformed ${name}: ${quote(r.text)}`);
    else set(stats, v);
  };

  keyed("cpu.stat", CPU_FIELDS, true);
  single("memory.peak", U64_MAX, (s, v) => s.memoryPeak = v);
  keyed("memory.events", MEMORY_EVENT_FIELDS, false);
  single("pids.peak", U32_MAX, (s, v) => s.pidsPeak = v);
  single("pids.forks", U32_MAX, (s, v) => s.pidsForks = v);
  keyed("pids.events", PIDS_EVENT_FIELDS, false);
  return { stats, problems };
}

/**
 * Evidence that processes ran in a cgroup (decision 10): CPU time was
 * charged to it, or it forked. A fresh cgroup shows neither.
 */
export function showsUse(cpuStat: string | null, pidsForks: string | null): boolean {
  if (cpuStat !== null) {
    const usage = parseKeyedLines(cpuStat).get("usage_usec");
    const v = usage === undefined ? null : parseUnsigned(usage, U64_MAX);
    if (v !== null && v > 0) return true;
  }
  if (pidsForks !== null) {
    const forks = parseSingleValue(pidsForks, U32_MAX);
    if (forks !== null && forks > 0) return true;
  }
  return false;
}
