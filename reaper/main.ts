// cm4all-spawn-reaper: watches cgroups below the spawner scopes, logs their
// accounting once they run empty, hands them to the Lua hook, deletes them.
import { InvalidArgumentError } from "commander";
import {
  collect,
  EXIT_CONFIG,
  fatal,
  newProgram,
  parseCommandLine,
  usageError,
} from "../shared/cli.ts";
import {
  errorMessage,
  log,
  logError,
  logInfo,
  logNotice,
  setLogIdentifier,
  writeAllSync,
} from "../shared/log.ts";
import { notify, StatusNotifier } from "../shared/systemd.ts";
import { useJournalIfConnected } from "../shared/journal_socket.ts";
import { ControlServer } from "../shared/control_server.ts";
import { defaultControlPath } from "../shared/control_protocol.ts";
import { reaperControlHandler } from "./control.ts";
import { formatReaperStatus, reaperStatus } from "./status.ts";
import { normalizeCgroupPath } from "./cgroup/path.ts";
import { utf8ByteString } from "../ffi/byte_string.ts";
import { printable } from "./printable.ts";
import { cgroupDirectory } from "./cgroup/snapshot.ts";
import { findCgroup2Root } from "./cgroup/root.ts";
import { ReaperDaemon } from "./daemon.ts";
import { DEFAULT_LUA_SCRIPT, DEFAULT_SCOPES } from "./defaults.ts";
import { NO_HOOK, type ReaperHook } from "./hook.ts";
import { simulateRelease } from "./simulate.ts";
import { markInheritedCloseOnExec } from "../shared/inherited_fds.ts";
import { exitOnSignals } from "../shared/shutdown.ts";
import { startHeapTrimmer } from "../shared/heap_trimmer.ts";

const NAME = "cm4all-spawn-reaper";

function positiveInteger(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${option} wants a positive integer, not '${value}'`);
    }
    return n;
  };
}

const program = newProgram(
  NAME,
  "Deletes empty cgroups below the spawner scopes, logging their resource usage.",
)
  .option(
    "--cgroup-root <dir>",
    "the cgroup2 hierarchy (default: the cgroup2 mount in /proc/self/mountinfo)",
  )
  .option(
    "--scope <path>",
    `a managed scope relative to the root, repeatable (default: ${DEFAULT_SCOPES.join(", ")})`,
    collect,
  )
  .option("--lua <file>", `the accounting script (default ${DEFAULT_LUA_SCRIPT})`)
  .option(
    "--lua-budget <n>",
    "Lua instructions per handler run before it is aborted",
    positiveInteger("--lua-budget"),
  )
  .option(
    "--lua-memory <mib>",
    "abort Lua runs once the Lua state has grown the JS heap by more than this many MiB",
    positiveInteger("--lua-memory"),
  )
  .option(
    "--lua-max-suspended <n>",
    "handlers parked in coroutine.yield() before the oldest is cancelled (default 1000)",
    positiveInteger("--lua-max-suspended"),
  )
  .option(
    "--lua-allow-exec",
    "let the script run programs and JavaScript (os.execute, package.loadlib, JS require)",
  )
  .option("--check-lua <file>", "check a script without starting the daemon; exit 0 if usable")
  .option(
    "--simulate <cgroup>",
    "reap one existing cgroup (path relative to the root) as the daemon would, without deleting it",
  )
  .option(
    "--control <path>",
    "the control socket for cm4all-spawnctl (default: control in $RUNTIME_DIRECTORY, " +
      "else /run/cm4all-spawn-reaper/control)",
  );
parseCommandLine(program, Deno.args);
setLogIdentifier(NAME);
const startedAt = performance.now();
markInheritedCloseOnExec();
const options = program.opts<{
  cgroupRoot?: string;
  scope?: string[];
  lua?: string;
  luaBudget?: number;
  luaMemory?: number;
  luaMaxSuspended?: number;
  luaAllowExec?: boolean;
  checkLua?: string;
  simulate?: string;
  control?: string;
}>();

if (options.checkLua !== undefined) {
  if (options.simulate !== undefined) {
    usageError(NAME, "--check-lua and --simulate exclude each other");
  }
  let result: { ok: boolean; messages: string[] };
  try {
    const { checkLuaScript } = await import("./lua/lua_hook.ts");
    result = await checkLuaScript(options.checkLua, {
      instructionBudget: options.luaBudget,
      memoryBudget: options.luaMemory === undefined ? undefined : options.luaMemory * 1048576,
      allowExec: options.luaAllowExec === true,
    });
  } catch (error) {
    result = { ok: false, messages: [`${options.checkLua}: ${errorMessage(error)}`] };
  }
  const text = result.messages.map((m) => m + "\n").join("");
  try {
    writeAllSync(result.ok ? Deno.stdout : Deno.stderr, text);
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e; // nobody reads: the status still tells
  }
  Deno.exit(result.ok ? 0 : 1);
}

let scopes: string[];
try {
  // Cgroup paths are byte strings (the kernel's bytes): arguments are UTF-8.
  scopes = (options.scope ?? [...DEFAULT_SCOPES]).map((s) =>
    utf8ByteString(normalizeCgroupPath(s, "--scope"))
  );
} catch (error) {
  usageError(NAME, errorMessage(error));
}
for (const scope of scopes) {
  if (scope === "/") usageError(NAME, "--scope '/' : the cgroup root cannot be a scope");
}

let root = options.cgroupRoot;
if (root === undefined) {
  try {
    root = findCgroup2Root() ?? undefined;
  } catch (error) {
    fatal(NAME, `/proc/self/mountinfo: ${errorMessage(error)}`);
  }
  if (root === undefined) {
    fatal(NAME, "no cgroup2 mount in /proc/self/mountinfo; use --cgroup-root");
  }
} else {
  root = root.length > 1 ? root.replace(/\/+$/, "") : root;
}
try {
  if (!Deno.statSync(root).isDirectory) fatal(NAME, `--cgroup-root ${root}: not a directory`);
} catch (error) {
  fatal(NAME, `--cgroup-root ${root}: ${errorMessage(error)}`);
}
const cgroupRoot = root;

async function loadHook(): Promise<ReaperHook> {
  const scriptPath = options.lua ?? DEFAULT_LUA_SCRIPT;
  try {
    Deno.statSync(scriptPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      fatal(NAME, `${scriptPath}: ${errorMessage(error)}`);
    }
    if (options.lua !== undefined) fatal(NAME, `--lua ${scriptPath}: no such file`);
    logNotice(`${scriptPath} not found: running without Lua (log and delete only)`);
    return NO_HOOK;
  }
  // The Lua runtime (fengari, libsodium) costs ~20 MiB: load it only for a script.
  const { loadLuaHook } = await import("./lua/lua_hook.ts");
  try {
    return await loadLuaHook({
      scriptPath,
      cgroupRoot,
      instructionBudget: options.luaBudget,
      memoryBudget: options.luaMemory === undefined ? undefined : options.luaMemory * 1048576,
      maxSuspended: options.luaMaxSuspended,
      allowExec: options.luaAllowExec === true,
    });
  } catch (error) {
    if (options.simulate !== undefined) fatal(NAME, errorMessage(error));
    // The daemon: a script that cannot load will not load on a restart either.
    writeAllSync(Deno.stderr, `${NAME}: ${errorMessage(error)}\n`);
    Deno.exit(EXIT_CONFIG);
  }
}

const hook = await loadHook();

if (options.simulate !== undefined) {
  let text: string;
  try {
    text = normalizeCgroupPath(options.simulate, "--simulate");
  } catch (error) {
    usageError(NAME, errorMessage(error));
  }
  const path = utf8ByteString(text);
  const directory = cgroupDirectory(cgroupRoot, text);
  try {
    if (!Deno.statSync(directory).isDirectory) throw new Error("not a directory");
  } catch (error) {
    await hook.close();
    fatal(NAME, `--simulate ${text}: ${directory}: ${errorMessage(error)}`);
  }
  const ok = await simulateRelease({ root: cgroupRoot, path, scopes, hook });
  await hook.close();
  Deno.exit(ok ? 0 : 1);
}

// Only the daemon talks to the journal natively (--check-lua, --simulate: stderr).
useJournalIfConnected();
const daemon = new ReaperDaemon({ root: cgroupRoot, scopes, hook });
let control: ControlServer | null = null;
const status = new StatusNotifier(() => formatReaperStatus(reaperStatus(daemon, startedAt)));
// Signal listeners first: each costs an fd, and a scan of more cgroups than
// the fd limit allows uses up every fd it can get (the rest is retried).
exitOnSignals(["SIGTERM", "SIGINT", "SIGQUIT"], async () => {
  status.stop();
  control?.close();
  await daemon.stop();
  await hook.close();
});
Deno.addSignalListener("SIGHUP", () => {
  try {
    hook.reload();
  } catch (error) {
    log("error", `reload: ${errorMessage(error)}`);
  }
});

try {
  daemon.start();
} catch (error) {
  await hook.close();
  fatal(NAME, `${cgroupRoot}: ${errorMessage(error)}`);
}
logInfo(
  `watching ${scopes.map(printable).join(", ")} below ${cgroupRoot} ` +
    `(${daemon.trackedCgroups} cgroups found)`,
);

notify("READY=1"); // the start-up scan is registered; its reaps run next
const running = daemon.run();
try {
  control = new ControlServer(
    options.control ?? defaultControlPath("reaper"),
    daemon.loop!,
    "reaper",
    reaperControlHandler(daemon, startedAt),
  );
} catch (error) {
  // Reaping matters more than the inspection tool: serve on without it.
  logError(errorMessage(error));
}
status.start();
// Trims after start-up and after each spell of reaping (README "Memory").
const stopTrimmer = startHeapTrimmer(() => daemon.counters?.reaped ?? 0);
await running;
stopTrimmer();
