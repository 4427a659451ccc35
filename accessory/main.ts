// cm4all-spawn-accessory: creates and hands out named namespaces.
import { fatal, usageError } from "../shared/exit.ts";
import { socketName } from "../ffi/socket.ts";
import { instanceKey } from "./init_marker.ts";
import { markInheritedCloseOnExec } from "../shared/inherited_fds.ts";
import { exitOnSignals } from "../shared/shutdown.ts";
import { errorMessage, logError, logInfo, logNotice, setLogIdentifier } from "../shared/log.ts";
import { listenFds, notify, StatusNotifier } from "../shared/systemd.ts";
import { useJournalIfConnected } from "../shared/journal_socket.ts";
import { ControlServer } from "../shared/control_server.ts";
import { defaultControlPath } from "../shared/control_protocol.ts";
import { accessoryControlHandler } from "./control.ts";
import { accessoryStatus, formatAccessoryStatus } from "./status.ts";
import { getrlimit, RLIMIT_NOFILE, setrlimit } from "../ffi/process.ts";
import { reserveFdTable } from "../ffi/fd.ts";
import { AccessoryDaemon } from "./daemon.ts";
import { askForCpuSlice } from "./cpu_slice.ts";
import { claimRuntimeDirectory, type RuntimeDirectory } from "./runtime_directory.ts";
import { adoptListener, bindListener, DEFAULT_ADDRESS } from "./listener.ts";
import { NAME, parseSimply } from "./options.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { startHeapTrimmer } from "../shared/heap_trimmer.ts";

function id(option: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 0xfffffffe) {
    usageError(NAME, `${option} wants a numeric id, not '${value}'`);
  }
  return n;
}

// The usual command line without commander (see options.ts); the rest with it.
const options = parseSimply(Deno.args) ??
  (await import("./cli_program.ts")).parseWithCommander(Deno.args);
setLogIdentifier(NAME);
useJournalIfConnected();
const startedAt = performance.now();
const access = {
  uids: new Set((options.allowUid ?? []).map((v) => id("--allow-uid", v))),
  gids: new Set((options.allowGid ?? []).map((v) => id("--allow-gid", v))),
};

/**
 * The private directory for the init symlinks, in $RUNTIME_DIRECTORY
 * (systemd) or /run, else the temporary directory; named after the instance
 * so that a leftover of a killed run is reused (runtime_directory.ts).
 */
function makeRuntimeDirectory(instance: string): RuntimeDirectory {
  const base = Deno.env.get("RUNTIME_DIRECTORY")?.split(":")[0] ?? "/run";
  try {
    return claimRuntimeDirectory(base, instance);
  } catch {
    return claimRuntimeDirectory(Deno.env.get("TMPDIR") ?? "/tmp", instance);
  }
}

markInheritedCloseOnExec();

// Every name holds a few fds (namespaces, pidfd) and every client one: use
// the hard limit, not the soft 1024 default.
try {
  const limit = getrlimit(RLIMIT_NOFILE);
  if (limit.soft < limit.hard) setrlimit(RLIMIT_NOFILE, { soft: limit.hard, hard: limit.hard });
} catch (e) {
  logNotice(`cannot raise RLIMIT_NOFILE: ${errorMessage(e)}`);
}

// A name holds about four fds (its namespaces, the init's pidfd, leases), a
// client one: size the fd table for that now, so that it never grows (each
// growth stalls the daemon for an RCU grace period: see reserveFdTable).
try {
  const wanted = options.maxNames * 4 + options.maxConnections + 256;
  reserveFdTable(wanted, Number(getrlimit(RLIMIT_NOFILE).soft));
} catch (e) {
  logNotice(`cannot reserve the fd table: ${errorMessage(e)}`);
}

// A short time slice, before anything is started that should inherit it
// (the pool program, and through it every init): see cpu_slice.ts.
if (options.cpuSlice > 0) {
  try {
    const refused = askForCpuSlice(options.cpuSlice);
    if (refused !== null) logNotice(`--cpu-slice ${options.cpuSlice}: ${refused}`);
  } catch (e) {
    logNotice(`--cpu-slice ${options.cpuSlice}: ${errorMessage(e)}`);
  }
}

const boundPaths: string[] = [];
let listeners: number[];
try {
  const activated = listenFds();
  if (activated.length > 0) {
    listeners = activated.map(adoptListener);
  } else {
    const addresses = options.listen ?? [DEFAULT_ADDRESS];
    listeners = addresses.map((address) => {
      try {
        const fd = bindListener(address);
        if (!address.startsWith("@")) boundPaths.push(address);
        return fd;
      } catch (e) {
        throw new Error(`--listen ${address}: ${errorMessage(e)}`);
      }
    });
  }
} catch (e) {
  fatal(NAME, errorMessage(e));
}

const instance = instanceKey(listeners.map(socketName));
let runtimeDirectory: string;
try {
  const claimed = makeRuntimeDirectory(instance);
  runtimeDirectory = claimed.path;
  if (claimed.reused) logNotice(`reusing ${runtimeDirectory}, left over by an earlier run`);
} catch (e) {
  fatal(NAME, `cannot create a runtime directory: ${errorMessage(e)}`);
}

const daemon = new AccessoryDaemon({
  listeners,
  namespaceTtl: options.namespaceTtl,
  runtimeDirectory,
  access,
  instance,
  limits: Object.fromEntries(
    (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).map((key) => [key, options[key]]),
  ),
  pool: { inits: Math.floor(options.poolSize), userHelpers: Math.floor(options.poolSize) },
});

const controlPath = options.control ?? defaultControlPath("accessory");
let control: ControlServer | null = null;
try {
  control = new ControlServer(
    controlPath,
    daemon.loop,
    "accessory",
    accessoryControlHandler(daemon, startedAt),
  );
} catch (e) {
  // Namespaces matter more than the inspection tool: serve on without it.
  logError(errorMessage(e));
}
const status = new StatusNotifier(() =>
  formatAccessoryStatus(accessoryStatus({
    registry: daemon.registry,
    handler: daemon.handler,
    connections: daemon.connections,
    startedAt,
  }))
);

exitOnSignals(["SIGTERM", "SIGINT"], async () => {
  status.stop();
  control?.close();
  await daemon.stop();
  for (const path of boundPaths) Deno.removeSync(path);
  Deno.removeSync(runtimeDirectory, { recursive: true });
});
// SIGUSR2 (package upgrades, see packaging/debian/postinst): exit at once like
// a crash, leaving the names' inits running for the next start to adopt; a
// restart (SIGTERM) would end them.
Deno.addSignalListener("SIGUSR2", () => {
  logNotice("SIGUSR2: exiting, leaving the names to the next start");
  try {
    for (const path of boundPaths) Deno.removeSync(path);
    Deno.removeSync(runtimeDirectory, { recursive: true });
  } catch { /* the next start binds anew */ }
  Deno.exit(0);
});
// The original daemon has nothing to reload either.
Deno.addSignalListener("SIGHUP", () => logNotice("SIGHUP: reload (nothing to reload)"));

const adopted = daemon.adoptOrphans();
if (adopted.length > 0) logNotice(`adopted ${adopted.length} names of a previous run`);
const running = daemon.run();
logInfo(
  `listening (${options.listen?.join(", ") ?? "socket activation or " + DEFAULT_ADDRESS}), ` +
    `namespace TTL ${options.namespaceTtl} s, CPU slice ${
      options.cpuSlice > 0 ? `${options.cpuSlice} µs` : "default"
    }, allowed uids 0${[...access.uids].map((u) => "," + u).join("")} gids ${
      [...access.gids].join(",") || "-"
    }`,
);
notify("READY=1");
status.start();
// Trims after start-up and after each busy spell (README "Memory").
const stopTrimmer = startHeapTrimmer(() => daemon.handler.requests);
await running;
stopTrimmer();
