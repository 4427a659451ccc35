// Runs ip and the setup script as child processes.
import { formatCommand } from "./plan.ts";
import type { Execute } from "./transaction.ts";

const decoder = new TextDecoder();

/** The last non-empty line a command wrote to stderr (ip's reason). */
function lastLine(bytes: Uint8Array): string {
  return decoder.decode(bytes).trim().split("\n").at(-1)?.trim() ?? "";
}

function describeStatus(status: Deno.CommandStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exited with status ${status.code}`;
}

/** Runs argv; on failure returns "COMMAND: reason". Aborting sends SIGTERM to the child. */
export const execute: Execute = async (argv, { inheritOutput, signal }) => {
  const text = formatCommand(argv);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: inheritOutput ? "inherit" : "null",
      stderr: inheritOutput ? "inherit" : "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${text}: ${argv[0]} not found in PATH`;
    throw e;
  }
  const kill = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  signal?.addEventListener("abort", kill);
  try {
    const [status, stderr] = await Promise.all([
      child.status,
      inheritOutput ? Promise.resolve(new Uint8Array()) : new Response(child.stderr).bytes(),
    ]);
    if (status.success) return undefined;
    const reason = lastLine(stderr);
    return `${text}: ${reason || describeStatus(status)}`;
  } finally {
    signal?.removeEventListener("abort", kill);
  }
};

/** Whether a command succeeds, its output discarded (existence probes). */
export async function succeeds(argv: string[]): Promise<boolean> {
  const { success } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}
