// cm4all-spawn-netns: what cm4all-spawn-netns@NAME.service runs (programs.md).
import { fatal, newProgram, parseCommandLine, usageError } from "../shared/cli.ts";
import { nameProblem } from "./name.ts";
import { DEFAULT_SETUP_DIR, down, NetnsError, up } from "./network_namespace.ts";

const PROGRAM = "cm4all-spawn-netns";
type Action = () => Promise<void>;

function checkedName(name: string): string {
  const problem = nameProblem(name);
  if (problem) usageError(PROGRAM, problem);
  return name;
}

/** SIGTERM/SIGINT during `up` abort it, so that what was done is undone. */
function abortOnSignals(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const listeners = (["SIGTERM", "SIGINT"] as const).map((name) => {
    const listener = () => controller.abort(`interrupted by ${name}`);
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  return {
    signal: controller.signal,
    release: () => listeners.forEach(([name, l]) => Deno.removeSignalListener(name, l)),
  };
}

function buildProgram(setAction: (action: Action) => void) {
  const program = newProgram(
    PROGRAM,
    "Create or remove a named network namespace connected to this one by a veth pair.",
  );
  program.command("up")
    .description(
      "create namespace NAME, veth NAME <-> NAME_peer (inside: net0, up), run DIR/NAME net0 inside",
    )
    .argument("<NAME>", "namespace and host-side interface name (at most 10 bytes)")
    .option("--setup-dir <DIR>", "directory of the setup scripts", DEFAULT_SETUP_DIR)
    .action((name: string, options: { setupDir: string }) => {
      const checked = checkedName(name);
      setAction(async () => {
        const aborter = abortOnSignals();
        try {
          await up(checked, options.setupDir, aborter.signal);
        } finally {
          aborter.release();
        }
      });
    });
  program.command("down")
    .description("delete veth NAME and namespace NAME; succeeds if they are already gone")
    .argument("<NAME>", "namespace name")
    .action((name: string) => {
      const checked = checkedName(name);
      setAction(() => down(checked));
    });
  return program;
}

if (import.meta.main) {
  let action: Action | undefined;
  const program = buildProgram((a) => action = a);
  parseCommandLine(program, Deno.args);
  if (!action) usageError(PROGRAM, "missing command: up NAME or down NAME (see --help)");
  try {
    await action();
  } catch (e) {
    if (e instanceof NetnsError) fatal(PROGRAM, e.message);
    throw e;
  }
}
