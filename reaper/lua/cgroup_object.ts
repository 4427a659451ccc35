// The `cgroup` argument of cgroup_released (spec §2): a full userdata with
// __index only (so assignment raises), values from the core's snapshot, lazy
// and cached `parent` and `xattr`. Every object made for one handler call
// goes stale together when the handler ends.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import type { ReleasedCgroup } from "../hook.ts";
import { pushBytes, pushCounter, raiseWhere } from "./lua_values.ts";
import { closeQuietly, dupCloseOnExec, O_DIRECTORY, O_RDONLY } from "../../ffi/fd.ts";
import { AT_FDCWD, fgetxattr } from "../../ffi/fs.ts";
// reaper helper (issue 14): paths are byte strings, opened at any length
import { concatBytes, stringBytes } from "../../ffi/byte_string.ts";
import { openatAnyLength } from "../../ffi/directory.ts";
import { printable } from "../printable.ts";
import { SysError } from "../../ffi/sys_error.ts";

const XATTR_MAX = 4096;
const USER_PREFIX = new TextEncoder().encode("user.");
const DOT = 0x2e;
const encoder = new TextEncoder();

/** Everything made for one handler call; closed together. */
export class CgroupObjectGroup {
  readonly members: CgroupInfo[] = [];
  closed = false;

  constructor(readonly cgroupRoot: string) {}

  /**
   * The handler outlives this synchronous call: the core closes its dirFd
   * about 50 ms after the reap, so keep our own descriptor for xattr reads.
   */
  detachFromCore(): void {
    for (const info of this.members) info.ownFd();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const info of this.members) info.releaseFd();
  }
}

/** The JS side of one cgroup userdata (main cgroup or a parent). */
export class CgroupInfo {
  #pathBytes: Uint8Array | null = null;
  /** fd for xattr reads: the core's dirFd, or one we own. */
  fd: number | null;
  #ownsFd = false;

  constructor(
    readonly group: CgroupObjectGroup,
    /** A byte string: the kernel's bytes (ffi/byte_string.ts). */
    readonly path: string,
    /** The snapshot, null for parents (they have only path, xattr, parent). */
    readonly released: ReleasedCgroup | null,
    /** Seconds from btime to object creation, null when btime is unknown. */
    readonly age: number | null,
  ) {
    this.fd = released?.dirFd ?? null;
    group.members.push(this);
  }

  get pathBytes(): Uint8Array {
    return this.#pathBytes ??= stringBytes(this.path); // the kernel's exact bytes
  }

  /** Parent path per §2: cut at the last "/"; null at or below the top level. */
  get parentPath(): string | null {
    const cut = this.path.lastIndexOf("/");
    return cut <= 0 ? null : this.path.slice(0, cut);
  }

  ownFd(): void {
    if (this.fd === null || this.#ownsFd) return;
    try {
      this.fd = dupCloseOnExec(this.fd);
      this.#ownsFd = true;
    } catch {
      this.fd = null; // reopened by path on the next xattr access
    }
  }

  /** The directory fd for xattr reads, opening <root><path> if needed. */
  xattrFd(): number {
    if (this.fd === null) {
      const path = concatBytes(encoder.encode(this.group.cgroupRoot), this.pathBytes);
      this.fd = openatAnyLength(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
      this.#ownsFd = true;
    }
    return this.fd;
  }

  releaseFd(): void {
    if (this.#ownsFd && this.fd !== null) closeQuietly(this.fd);
    this.fd = null;
    this.#ownsFd = false;
  }
}

interface CgroupData {
  cgroup?: CgroupInfo;
  xattrOf?: CgroupInfo;
}

/** Key bytes as a JS string (keys are short ASCII names in practice). */
function keyString(key: Uint8Array): string {
  return key.length <= 32 ? String.fromCharCode(...key) : "";
}

/** The xattr name for a key: `user.` + key when it has no "." and is < 1024 bytes. */
export function xattrName(key: Uint8Array): Uint8Array {
  if (key.length >= 1024 || key.includes(DOT)) return key;
  const name = new Uint8Array(USER_PREFIX.length + key.length);
  name.set(USER_PREFIX);
  name.set(key, USER_PREFIX.length);
  return name;
}

function pushOptionalNumber(L: LuaState, value: number | null | undefined): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else lua.lua_pushnumber(L, value);
}

function pushOptionalCounter(L: LuaState, value: number | null | undefined): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else pushCounter(L, value);
}

/**
 * A metatable registered under name but without `__name`, so tostring() and
 * error messages say "userdata" as under LuaJIT.
 */
function newMetatable(L: LuaState, name: string): void {
  lauxlib.luaL_newmetatable(L, to_luastring(name));
  lua.lua_pushnil(L);
  lua.lua_setfield(L, -2, to_luastring("__name"));
}

/** Creates the metatables once per Lua state; pushes cgroup objects. */
export class CgroupObjects {
  readonly #cgroupMeta: number;
  readonly #xattrMeta: number;

  constructor(readonly L: LuaState, readonly cgroupRoot: string) {
    newMetatable(L, "cgroup_info");
    lua.lua_pushcfunction(L, (C: LuaState) => this.#cgroupIndex(C));
    lua.lua_setfield(L, -2, to_luastring("__index"));
    this.#cgroupMeta = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    newMetatable(L, "io.XattrTable");
    lua.lua_pushcfunction(L, (C: LuaState) => this.#xattrIndex(C));
    lua.lua_setfield(L, -2, to_luastring("__index"));
    this.#xattrMeta = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  /** Pushes the handler's cgroup object for a reaped cgroup on thread T. */
  pushReleased(T: LuaState, group: CgroupObjectGroup, released: ReleasedCgroup): CgroupInfo {
    const btime = released.btime;
    // The snapshot time stands for "object creation": it precedes the handler
    // by microseconds and makes age agree with the stats line.
    const age = btime !== null && btime !== 0 ? released.takenAt - btime : null;
    const info = new CgroupInfo(group, released.path, released, age);
    this.#pushUserdata(T, { cgroup: info }, this.#cgroupMeta);
    return info;
  }

  #pushUserdata(T: LuaState, data: CgroupData, meta: number): void {
    const ud = lua.lua_newuserdata(T, 0) as CgroupData;
    if (data.cgroup) ud.cgroup = data.cgroup;
    if (data.xattrOf) ud.xattrOf = data.xattrOf;
    lua.lua_rawgeti(T, lua.LUA_REGISTRYINDEX, meta);
    lua.lua_setmetatable(T, -2);
  }

  /** The uservalue table caching `parent` and `xattr`, created on first use. */
  #cache(C: LuaState, key: string): boolean {
    if (lua.lua_getuservalue(C, 1) !== lua.LUA_TTABLE) {
      lua.lua_pop(C, 1);
      lua.lua_createtable(C, 0, 2);
      lua.lua_pushvalue(C, -1);
      lua.lua_setuservalue(C, 1);
    }
    // stack: ... cache
    if (lua.lua_getfield(C, -1, to_luastring(key)) !== lua.LUA_TNIL) return true;
    lua.lua_pop(C, 1);
    return false; // cache table left on top for #store
  }

  #store(C: LuaState, key: string): void {
    // stack: ... cache value
    lua.lua_pushvalue(C, -1);
    lua.lua_setfield(C, -3, to_luastring(key));
  }

  #cgroupIndex(C: LuaState): number {
    const data = lua.lua_touserdata(C, 1) as CgroupData | null;
    const info = data?.cgroup;
    const key: Uint8Array = lauxlib.luaL_checklstring(C, 2);
    if (info === undefined) raiseWhere(C, "bad cgroup object");
    if (info.group.closed) raiseWhere(C, "Stale object");
    const name = keyString(key);
    if (name === "path") {
      pushBytes(C, info.pathBytes);
      return 1;
    }
    if (name === "parent") return this.#parent(C, info);
    if (name === "xattr") return this.#xattr(C, info);
    const r = info.released;
    if (r === null) {
      lua.lua_pushnil(C);
      return 1;
    }
    const s = r.stats;
    switch (name) {
      case "btime":
        if (r.btime === null || r.btime === 0) lua.lua_pushnil(C);
        else pushCounter(C, Math.trunc(r.btime));
        break;
      case "age":
        pushOptionalNumber(C, info.age);
        break;
      case "cpu_total":
        pushOptionalNumber(C, s.cpuTotal);
        break;
      case "cpu_user":
        pushOptionalNumber(C, s.cpuUser);
        break;
      case "cpu_system":
        pushOptionalNumber(C, s.cpuSystem);
        break;
      case "memory_peak":
        pushOptionalCounter(C, s.memoryPeak);
        break;
      case "memory_events_high":
        pushOptionalCounter(C, s.memoryEventsHigh);
        break;
      case "memory_events_max":
        pushOptionalCounter(C, s.memoryEventsMax);
        break;
      case "memory_events_oom":
        pushOptionalCounter(C, s.memoryEventsOom);
        break;
      case "pids_peak":
        pushOptionalCounter(C, s.pidsPeak);
        break;
      case "pids_forks":
        pushOptionalCounter(C, s.pidsForks);
        break;
      case "pids_events_max":
        pushOptionalCounter(C, s.pidsEventsMax);
        break;
      default:
        lua.lua_pushnil(C);
    }
    return 1;
  }

  #parent(C: LuaState, info: CgroupInfo): number {
    const parentPath = info.parentPath;
    if (parentPath === null) {
      lua.lua_pushnil(C);
      return 1;
    }
    if (this.#cache(C, "parent")) return 1;
    const parent = new CgroupInfo(info.group, parentPath, null, null);
    this.#pushUserdata(C, { cgroup: parent }, this.#cgroupMeta);
    this.#store(C, "parent");
    return 1;
  }

  #xattr(C: LuaState, info: CgroupInfo): number {
    if (this.#cache(C, "xattr")) return 1;
    try {
      info.xattrFd();
    } catch (e) {
      const reason = e instanceof SysError ? e.reason : String(e);
      raiseWhere(C, `Failed to open cgroup '${printable(info.path)}': ${reason}`);
    }
    this.#pushUserdata(C, { xattrOf: info }, this.#xattrMeta);
    this.#store(C, "xattr");
    return 1;
  }

  #xattrIndex(C: LuaState): number {
    const data = lua.lua_touserdata(C, 1) as CgroupData | null;
    const info = data?.xattrOf;
    const key: Uint8Array = lauxlib.luaL_checklstring(C, 2);
    if (info === undefined) raiseWhere(C, "bad xattr table");
    if (info.group.closed) raiseWhere(C, "Stale object");
    let fd: number;
    try {
      fd = info.xattrFd();
    } catch {
      lua.lua_pushnil(C);
      return 1;
    }
    const value = fgetxattr(fd, xattrName(key), XATTR_MAX);
    if (value === null) lua.lua_pushnil(C);
    else pushBytes(C, value);
    return 1;
  }
}
