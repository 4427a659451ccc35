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

-- The cgroup the spawner made for the job: the level directly below the
-- spawner's scope (a directory named *.scope).  Levels below it may be made
-- by the workload itself (a delegated cgroup), which can then set any
-- user.* xattr on them, so the account is never taken from there.  Note
-- that whoever owns a directory can set its user.* xattrs: the job cgroup
-- must stay root's (delegate a child of it to the workload, not the job
-- cgroup itself).  trusted.* xattrs read as nil here: the unit gives the
-- reaper no CAP_SYS_ADMIN.
-- The topmost match counts: a workload may name its own cgroups *.scope.
local function spawner_level(cgroup)
  local found
  local node = cgroup
  while node ~= nil do
    local parent = node.parent
    if parent ~= nil and parent.path:match("%.scope$") then found = node end
    node = parent
  end
  return found
end

function cgroup_released(cgroup)
  -- The account name set by the spawner as the extended attribute
  -- "user.account" of the job's cgroup (nil when absent or unreadable).
  local account
  local job = spawner_level(cgroup)
  if job ~= nil then
    local ok, xattr = pcall(function() return job.xattr end)
    if ok then account = xattr.account end
  end

  -- print() escapes control characters, so neither a cgroup name nor an
  -- xattr value can end this line or forge another one.
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
