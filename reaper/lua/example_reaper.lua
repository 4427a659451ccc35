-- /etc/cm4all/spawn/reaper.lua: the accounting script of cm4all-spawn-reaper.
--
-- cgroup_released(cgroup) is called once for every cgroup the reaper
-- deletes, after the daemon has logged its stats line.  Each call runs in
-- its own coroutine; print() writes one line to stdout (the journal).
-- Test changes with:
--   cm4all-spawn-reaper --check-lua /etc/cm4all/spawn/reaper.lua
--   cm4all-spawn-reaper --simulate /system.slice/.../some-cgroup
-- and apply them with `systemctl restart cm4all-spawn-reaper` (the script is
-- read only at startup; `systemctl reload` just calls reload() below).

-- Formats an optional number; nil when the kernel did not report it.
local function opt(value, format)
  if value == nil then return "-" end
  return string.format(format or "%s", value)
end

function cgroup_released(cgroup)
  -- The account name could come from an extended attribute set by the
  -- spawner, e.g. `cgroup.xattr.account` reads "user.account"; parents are
  -- asked too (nil when absent).
  local account
  local ok, xattr = pcall(function() return cgroup.xattr end)
  if ok then account = xattr.account end
  if account == nil and cgroup.parent ~= nil then
    local pok, pxattr = pcall(function() return cgroup.parent.xattr end)
    if pok then account = pxattr.account end
  end

  print(string.format("released %s account=%s age=%ss cpu=%s/%s/%ss memory_peak=%s procs=%s",
    cgroup.path,
    opt(account),
    opt(cgroup.age, "%.1f"),
    opt(cgroup.cpu_total, "%.3f"), opt(cgroup.cpu_user, "%.3f"), opt(cgroup.cpu_system, "%.3f"),
    opt(cgroup.memory_peak),
    opt(cgroup.pids_peak)))
end

-- Called on SIGHUP (systemctl reload cm4all-spawn-reaper).
function reload()
  print("reaper.lua: reload requested")
end
