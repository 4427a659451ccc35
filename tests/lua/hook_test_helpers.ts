// Loads a Lua script from a temporary file as the daemon would, capturing
// print output and error lines; builds synthetic ReleasedCgroup snapshots.
import { loadLuaHook } from "../../reaper/lua/lua_hook.ts";
import type { CgroupStats, ReaperHook, ReleasedCgroup } from "../../reaper/hook.ts";

export const SCOPE = "/system.slice/system-cm4all.slice/bp-spawn.scope";

export interface LoadedHook {
  hook: ReaperHook;
  out: string[];
  logs: string[];
  dir: string;
  cleanup(): Promise<void>;
}

const decoder = new TextDecoder();

export async function writeScript(source: string, dir?: string): Promise<string> {
  const d = dir ?? await Deno.makeTempDir({ prefix: "lua-test-" });
  const path = `${d}/reaper.lua`;
  await Deno.writeTextFile(path, source);
  return path;
}

export async function loadHook(
  source: string,
  options: { cgroupRoot?: string; instructionBudget?: number } = {},
): Promise<LoadedHook> {
  const dir = await Deno.makeTempDir({ prefix: "lua-test-" });
  const out: string[] = [];
  const logs: string[] = [];
  try {
    const hook = await loadLuaHook({
      scriptPath: await writeScript(source, dir),
      cgroupRoot: options.cgroupRoot ?? dir,
      instructionBudget: options.instructionBudget,
      logError: (line) => logs.push(line),
      writeOut: (bytes) => out.push(decoder.decode(bytes).replace(/\n$/, "")),
    });
    return {
      hook,
      out,
      logs,
      dir,
      async cleanup() {
        await hook.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
}

import { emptyStats } from "../../reaper/cgroup/stats.ts";
export { emptyStats };

export function released(
  path = `${SCOPE}/foo`,
  fields: Partial<Omit<ReleasedCgroup, "path" | "stats">> & { stats?: Partial<CgroupStats> } = {},
): ReleasedCgroup {
  const now = Date.now() / 1000;
  return {
    path,
    dirFd: fields.dirFd ?? null,
    btime: fields.btime === undefined ? now - 12.25 : fields.btime,
    takenAt: fields.takenAt ?? now,
    stats: { ...emptyStats(), ...fields.stats },
  };
}
