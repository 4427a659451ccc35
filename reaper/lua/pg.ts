// The Lua global `pg` (spec §5): pg:new, pg:encode_array, pg:decode_array and
// the pg.Connection (execute, listen) and pg.Result (fetch) userdata. Thin
// glue over connection.ts and array_codec.ts; strings stay bytes.
import { lauxlib, lua, type LuaState, to_luastring } from "./fengari.ts";
import type { LuaRuntime } from "./lua_runtime.ts";
import {
  bytesToText,
  checkBytes,
  checkMaxArgs,
  checkMinArgs,
  pushBytes,
  pushText,
  raiseWhere,
} from "./lua_values.ts";
import { formatLuaJitNumber, formatShortestNumber } from "./number_format.ts";
import { logNotice, logWarning } from "../../shared/log.ts";
import { ArrayCodecError, decodeArray, encodeArray } from "../pg/array_codec.ts";
import {
  ConninfoError,
  type ConnParams,
  describeConninfo,
  resolveConninfo,
  UnsupportedOptionError,
} from "../pg/conninfo.ts";
import {
  DuplicateChannelError,
  type ParamsSource,
  PgConnection,
  pgDefaults,
  type PgResult,
} from "../pg/connection.ts";
import { osUserName } from "../pg/os_user.ts";

const CONNECTION_META = "pg.Connection";
const RESULT_META = "pg.Result";
const REQUEST_META = "pg.Request";

/** Overrides the default wait for a reconnection, in seconds. */
export const WAIT_ENV = "SPAWN_REAPER_PG_WAIT";

export interface PgOptions {
  /** How long queued queries wait for an unreachable server (ms). */
  waitDeadlineMs?: number;
  /** Environment for the PG* variables; default Deno.env. */
  env?: Record<string, string | undefined>;
  /** libpq's default user; default the effective user's login name. */
  osUser?: string;
  /** Connection events (lost / failed / re-established); default the daemon log. */
  onEvent?: (message: string) => void;
}

interface ConnectionData {
  conn: PgConnection;
}

interface ResultData {
  result: PgResult;
  row: number;
}

/** The wait deadline from options, $SPAWN_REAPER_PG_WAIT (seconds) or the default. */
export function waitDeadlineFrom(options: PgOptions, env: Record<string, string | undefined>) {
  if (options.waitDeadlineMs !== undefined) return options.waitDeadlineMs;
  const text = env[WAIT_ENV];
  if (text !== undefined && text.trim() !== "") {
    const seconds = Number(text);
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new Error(`${WAIT_ENV}=${JSON.stringify(text)}: expected a number of seconds >= 0`);
    }
    return seconds * 1000;
  }
  return pgDefaults.waitDeadlineMs;
}

/** Installs the global `pg`; connections close with the runtime. */
export function installPg(L: LuaState, runtime: LuaRuntime, options: PgOptions = {}): void {
  const env = options.env ?? Deno.env.toObject();
  const waitDeadlineMs = waitDeadlineFrom(options, env);
  const onEvent = options.onEvent ?? ((m: string) => {
    (m.startsWith("reconnected") ? logNotice : logWarning)(`pg: ${m}`);
  });
  let osUser: string | null = options.osUser ?? null;
  const connections = new Set<PgConnection>();
  runtime.onClose(() => {
    for (const c of connections) c.close();
    connections.clear();
  });
  const runner = runtime.runner;

  // pg:new(conninfo [, schema])
  const pgNew = (L: LuaState): number => {
    checkMaxArgs(L, 3);
    const conninfo = bytesToText(checkBytes(L, 2));
    const schema = bytesToText(lauxlib.luaL_optlstring(L, 3, to_luastring("")));
    let params: ConnParams | ConninfoError;
    try {
      osUser ??= osUserName();
      params = resolveConninfo(conninfo, env, osUser);
    } catch (e) {
      // A keyword we do not implement is refused now (issue 11), not ignored.
      if (e instanceof UnsupportedOptionError) raiseWhere(L, `pg:new: ${e.message}`);
      // Otherwise like PQconnectStart: the object exists, its queries report the error.
      params = e instanceof ConninfoError ? e : new ConninfoError(String(e));
    }
    const statusTarget = describeConninfo(conninfo);
    const conn = new PgConnection({ params, schema, waitDeadlineMs, onEvent, statusTarget });
    connections.add(conn);
    const data: ConnectionData = lua.lua_newuserdata(L, 0);
    data.conn = conn;
    lauxlib.luaL_setmetatable(L, to_luastring(CONNECTION_META));
    return 1;
  };

  // db:execute(sql [, params])
  const execute = (L: LuaState): number => {
    checkMinArgs(L, 2);
    checkMaxArgs(L, 3);
    const { conn } = lauxlib.luaL_checkudata(L, 1, to_luastring(CONNECTION_META)) as ConnectionData;
    const sql = checkBytes(L, 2);
    let paramsRef: number | null = null;
    if (lua.lua_gettop(L) >= 3) lauxlib.luaL_checktype(L, 3, lua.LUA_TTABLE);
    let request: { cancel(): void } | null = null;
    const waiter = runner.suspend(L, "db:execute", () => request?.cancel());
    if (lua.lua_gettop(L) >= 3) paramsRef = runner.ref(L, 3);
    const release = () => {
      if (paramsRef !== null) runner.unref(paramsRef);
      paramsRef = null;
    };
    const source: ParamsSource | null = paramsRef === null ? null : () => {
      const values = readParams(runtime.L, paramsRef!);
      release();
      return values;
    };
    const pending = conn.execute(sql, source);
    request = pending;
    pending.outcome.then((outcome) => {
      release();
      waiter.resume((T) => {
        if (outcome.kind === "result") {
          pushResult(T, outcome.result);
          return 1;
        }
        if (outcome.kind === "error") {
          lua.lua_pushnil(T);
          pushText(T, outcome.message);
          return 2;
        }
        return 0;
      });
    });
    return waiter.yield();
  };

  // db:listen(channel, fn)
  const listen = (L: LuaState): number => {
    checkMinArgs(L, 3);
    checkMaxArgs(L, 3);
    const { conn } = lauxlib.luaL_checkudata(L, 1, to_luastring(CONNECTION_META)) as ConnectionData;
    const channel = checkBytes(L, 2).slice();
    lauxlib.luaL_checktype(L, 3, lua.LUA_TFUNCTION);
    const fnRef = runner.ref(L, 3);
    const label = `listen callback '${bytesToText(channel)}'`;
    try {
      conn.listen(channel, () =>
        runner.spawn("listen", label, (T) => {
          lua.lua_rawgeti(T, lua.LUA_REGISTRYINDEX, fnRef);
          return 0;
        }).done);
    } catch (e) {
      runner.unref(fnRef);
      if (e instanceof DuplicateChannelError) {
        return lauxlib.luaL_argerror(L, 2, to_luastring("Duplicate notify name"));
      }
      throw e;
    }
    return 0;
  };

  // pg:encode_array(t)
  const encode = (L: LuaState): number => {
    checkMaxArgs(L, 2);
    if (lua.lua_type(L, 2) !== lua.LUA_TTABLE) {
      return lauxlib.luaL_argerror(L, 2, to_luastring("Table expected"));
    }
    const n = lua.lua_rawlen(L, 2);
    const slots: Uint8Array[] = new Array(n).fill(new Uint8Array(0));
    lua.lua_pushnil(L);
    while (lua.lua_next(L, 2) !== 0) {
      // Numeric strings count as keys; lua_tonumberx does not touch the key.
      const t = lua.lua_type(L, -2);
      const key = t === lua.LUA_TNUMBER || t === lua.LUA_TSTRING ? lua.lua_tonumberx(L, -2) : false;
      if (key === false) raiseWhere(L, "Key is not a number");
      if (!Number.isInteger(key) || key < 1 || key > n) raiseWhere(L, "Key out of range");
      const vt = lua.lua_type(L, -1);
      if (vt === lua.LUA_TSTRING) {
        slots[key - 1] = lua.lua_tolstring(L, -1);
      } else if (vt === lua.LUA_TNUMBER) {
        slots[key - 1] = to_luastring(formatLuaJitNumber(lua.lua_tonumber(L, -1)));
      } else {
        raiseWhere(L, "Bad value");
      }
      lua.lua_pop(L, 1);
    }
    pushBytes(L, encodeArray(slots));
    return 1;
  };

  // pg:decode_array(s)
  const decode = (L: LuaState): number => {
    checkMaxArgs(L, 2);
    const s = checkBytes(L, 2);
    let elements: Uint8Array[];
    try {
      elements = decodeArray(s);
    } catch (e) {
      if (e instanceof ArrayCodecError) raiseWhere(L, e.message);
      throw e;
    }
    lua.lua_createtable(L, elements.length, 0);
    elements.forEach((element, i) => {
      pushBytes(L, element);
      lua.lua_rawseti(L, -2, i + 1);
    });
    return 1;
  };

  // res:fetch([t [, mode]])
  const fetch = (L: LuaState): number => {
    const data = lauxlib.luaL_checkudata(L, 1, to_luastring(RESULT_META)) as ResultData;
    if (data.row >= data.result.rows.length) return 0;
    const mode = bytesToText(lauxlib.luaL_optlstring(L, 3, to_luastring("a")));
    if (mode !== "a" && mode !== "n") {
      return lauxlib.luaL_argerror(L, 3, to_luastring("Bad mode"));
    }
    if (lua.lua_gettop(L) >= 2) {
      lua.lua_pushvalue(L, 2);
    } else {
      lua.lua_createtable(L, 0, data.result.columns.length);
    }
    const target = lua.lua_gettop(L);
    const row = data.result.rows[data.row++];
    const { columns } = data.result;
    for (let i = 0; i < columns.length; i++) {
      const value = row[i];
      if (mode === "a") pushBytes(L, columns[i]);
      if (value === null) lua.lua_pushnil(L);
      else pushBytes(L, value);
      // Non-raw: a target with metamethods sees the assignment.
      if (mode === "a") lua.lua_settable(L, target);
      else lua.lua_seti(L, target, i + 1);
    }
    return 1;
  };

  function pushResult(T: LuaState, result: PgResult): void {
    const data: ResultData = lua.lua_newuserdata(T, 0);
    data.result = result;
    data.row = 0;
    lauxlib.luaL_setmetatable(T, to_luastring(RESULT_META));
  }

  newMetatable(L, CONNECTION_META, { execute, listen });
  newMetatable(L, RESULT_META, { fetch });
  // Registered like upstream; requests are not exposed as Lua objects here.
  newMetatable(L, REQUEST_META, {});

  lua.lua_createtable(L, 0, 3);
  setFunction(L, "new", pgNew);
  setFunction(L, "encode_array", encode);
  setFunction(L, "decode_array", decode);
  lua.lua_setglobal(L, to_luastring("pg"));
}

/**
 * Reads query parameters 1..#t with raw access (spec §5.3), as text bytes;
 * a string result is the error for an unsupported value type.
 */
function readParams(L: LuaState, ref: number): (Uint8Array | null)[] | string {
  lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
  const table = lua.lua_gettop(L);
  const n = lua.lua_rawlen(L, table);
  const values: (Uint8Array | null)[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      const type = lua.lua_rawgeti(L, table, i);
      try {
        if (type === lua.LUA_TNIL) values.push(null);
        else if (type === lua.LUA_TBOOLEAN) {
          values.push(to_luastring(lua.lua_toboolean(L, -1) ? "1" : "0"));
        } else if (type === lua.LUA_TNUMBER) {
          values.push(to_luastring(formatShortestNumber(lua.lua_tonumber(L, -1))));
        } else if (type === lua.LUA_TSTRING) values.push(lua.lua_tolstring(L, -1));
        else {
          return `Unsupported query parameter type: ${bytesToText(lua.lua_typename(L, type))}`;
        }
      } finally {
        lua.lua_pop(L, 1);
      }
    }
    return values;
  } finally {
    lua.lua_settop(L, table - 1);
  }
}

function setFunction(L: LuaState, name: string, fn: (L: LuaState) => number): void {
  lua.lua_pushcfunction(L, fn);
  lua.lua_setfield(L, -2, to_luastring(name));
}

function newMetatable(
  L: LuaState,
  name: string,
  methods: Record<string, (L: LuaState) => number>,
): void {
  lauxlib.luaL_newmetatable(L, to_luastring(name));
  lua.lua_createtable(L, 0, Object.keys(methods).length);
  for (const [k, fn] of Object.entries(methods)) setFunction(L, k, fn);
  lua.lua_setfield(L, -2, to_luastring("__index"));
  lua.lua_pop(L, 1);
}
