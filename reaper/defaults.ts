// Defaults of cm4all-spawn-reaper (programs.md; the original's paths).

export const DEFAULT_SCOPES: readonly string[] = [
  "/system.slice/system-cm4all.slice/bp-spawn.scope",
  "/system.slice/system-cm4all.slice/lukko-spawn.scope",
  "/system.slice/system-cm4all.slice/workshop-spawn.scope",
];

export const DEFAULT_LUA_SCRIPT = "/etc/cm4all/spawn/reaper.lua";
