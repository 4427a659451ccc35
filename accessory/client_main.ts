// cm4all-spawn-client: runs COMMAND inside NAME's IPC and PID namespaces, in a
// fresh mount namespace with its own /proc.
import { CLONE_NEWIPC, CLONE_NEWPID, openNamespace, setns } from "../ffi/namespace.ts";
import { closeQuietly } from "../ffi/fd.ts";
import {
  collect,
  EXIT_FAILURE,
  fatal,
  newProgram,
  parseCommandLine,
  usageError,
} from "../shared/cli.ts";
import { closeNamespaces, DEFAULT_SOCKET, makeNamespaces, ServerError } from "../shared/client.ts";
import { errorMessage, writeAllSync } from "../shared/log.ts";

const NAME = "cm4all-spawn-client";
export const UNSHARE = "/usr/bin/unshare";

const program = newProgram(NAME, "Runs a command in the namespaces of NAME.")
  .option("--socket <address>", "the accessory daemon's address", DEFAULT_SOCKET)
  .option(
    "--trust-uid <uid>",
    "also trust a daemon running as UID (repeatable; default only uid 0; for tests)",
    collect,
  )
  .argument("<name>", "the namespace name")
  .argument("[command...]", "the command and its arguments (default /bin/sh)")
  .passThroughOptions();
parseCommandLine(program, Deno.args);
const [name, commandArgs] = program.processedArgs as [string, string[]];
const command = commandArgs.length > 0 ? commandArgs : ["/bin/sh"];
const { socket, trustUid } = program.opts<{ socket: string; trustUid?: string[] }>();
const serverUids = [
  0,
  ...(trustUid ?? []).map((value) => {
    if (!/^\d+$/.test(value) || Number(value) > 0xfffffffe) {
      usageError(NAME, `--trust-uid wants a numeric uid, not '${value}'`);
    }
    return Number(value);
  }),
];

let namespaces;
try {
  // The lease keeps NAME (and so COMMAND's PID namespace) from expiring while
  // COMMAND runs; it is released when this process exits.
  namespaces = makeNamespaces(name, { ipc: true, pid: true, lease: true, socket, serverUids });
} catch (e) {
  if (e instanceof ServerError) {
    writeAllSync(Deno.stderr, `Server error: ${e.message}\n`);
    Deno.exit(EXIT_FAILURE);
  }
  fatal(NAME, `${socket}: ${errorMessage(e)}`);
}

// setns on the JS thread, spawn, and setns back at once; nothing asynchronous
// in between (Deno cannot create threads while pid_for_children differs).
const ownIpc = openNamespace("thread-self", "ipc");
const ownPid = openNamespace("thread-self", "pid");
let child: Deno.ChildProcess;
try {
  setns(namespaces.ipc!, CLONE_NEWIPC);
  try {
    setns(namespaces.pid!, CLONE_NEWPID);
    try {
      child = new Deno.Command(UNSHARE, {
        args: ["--mount", "--propagation", "slave", "--mount-proc", "--", ...command],
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
    } finally {
      setns(ownPid, CLONE_NEWPID);
    }
  } finally {
    setns(ownIpc, CLONE_NEWIPC);
  }
} catch (e) {
  fatal(NAME, `cannot run ${command[0]} in ${JSON.stringify(name)}: ${errorMessage(e)}`);
} finally {
  const { lease: _, ...joined } = namespaces;
  closeNamespaces(joined);
  closeQuietly(ownIpc);
  closeQuietly(ownPid);
}

// The child shares our terminal; pass termination requests on to it.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
  });
}
const status = await child.status;
Deno.exit(status.signal !== null ? 128 + signalNumber(status.signal) : status.code);

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
