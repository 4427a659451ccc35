// A small reader for systemd unit files: enough to assert settings in tests.

/** section -> key -> values (a key may repeat). */
export type UnitFile = Map<string, Map<string, string[]>>;

export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]) ?? new Map();
      unit.set(header[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0) {
      throw new Error(`unit file line '${line}' is not KEY=VALUE in a section`);
    }
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The last value of section.key (systemd's rule for single-valued keys). */
export function value(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}
