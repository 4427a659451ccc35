// STUB created by the reaper core engineer because this file did not exist
// yet; the Lua engineer owns it and replaces it with the real runtime.
import type { ReaperHook } from "../hook.ts";

export interface LuaHookOptions {
  scriptPath: string;
  cgroupRoot: string;
  instructionBudget?: number;
}

export function loadLuaHook(options: LuaHookOptions): Promise<ReaperHook> {
  return Promise.reject(new Error(`${options.scriptPath}: Lua support is not built yet`));
}

export function checkLuaScript(path: string): Promise<{ ok: boolean; messages: string[] }> {
  return Promise.resolve({ ok: false, messages: [`${path}: Lua support is not built yet`] });
}
