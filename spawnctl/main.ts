// cm4all-spawnctl: shows what the accessory and the reaper hold, through
// their read-only control sockets (shared/control_protocol.ts).
import { CommanderError } from "commander";
import { EXIT_USAGE, newProgram } from "../shared/cli.ts";
import { writeAllSync } from "../shared/log.ts";
import type {
  AccessoryStatus,
  DaemonKind,
  NameDetail,
  NameInfo,
  ReaperResponse,
  ReaperStatus,
} from "../shared/control_protocol.ts";
import { defaultControlPath } from "../shared/control_protocol.ts";
import { askDaemon, ControlError } from "./control_client.ts";
import { formatName, formatNames, formatReaper } from "./text.ts";
import { formatMetrics } from "./metrics.ts";

const NAME = "cm4all-spawnctl";

const program = newProgram(
  NAME,
  "Shows the state of cm4all-spawn-accessory and cm4all-spawn-reaper (read-only, root only).",
)
  .option(
    "--accessory <path>",
    "the accessory's control socket (default /run/cm4all-spawn-accessory/control)",
  )
  .option(
    "--reaper <path>",
    "the reaper's control socket (default /run/cm4all-spawn-reaper/control)",
  );

let exitCode = 0;

function socketOf(daemon: DaemonKind): string {
  const given = program.opts<{ accessory?: string; reaper?: string }>()[daemon];
  // Not $RUNTIME_DIRECTORY: that would be spawnctl's own (e.g. under a timer).
  return given ?? defaultControlPath(daemon, undefined);
}

function print(text: string): void {
  writeAllSync(Deno.stdout, text);
}

function json(value: unknown): void {
  print(JSON.stringify(value, null, 2) + "\n");
}

async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    writeAllSync(Deno.stderr, `${NAME}: ${e.message}\n`);
    exitCode = 1;
  }
}

program.command("names")
  .description("every live name: namespaces, init, leases, idle time, expiry")
  .option("--json", "the answer as JSON (with a version field)")
  .action((options: { json?: boolean }) =>
    run(async () => {
      const answer = await askDaemon("accessory", socketOf("accessory"), { command: "names" });
      if (options.json) return json(answer);
      print(formatNames(answer.status as AccessoryStatus, answer.names as NameInfo[]));
    })
  );

program.command("name")
  .description("one name in full, with its uid/gid maps")
  .argument("<name>", "the NAME as spawners request it")
  .option("--json", "the answer as JSON (with a version field)")
  .action((name: string, options: { json?: boolean }) =>
    run(async () => {
      const answer = await askDaemon("accessory", socketOf("accessory"), {
        command: "name",
        name,
      });
      if (options.json) return json(answer);
      print(formatName(answer.name as NameDetail));
    })
  );

program.command("reaper")
  .description("scopes, watched cgroups, pending deletions, Lua, PostgreSQL, counters")
  .option("--json", "the answer as JSON (with a version field)")
  .option("--all", "also list every watched cgroup")
  .action((options: { json?: boolean; all?: boolean }) =>
    run(async () => {
      const answer = await askDaemon("reaper", socketOf("reaper"), {
        command: "reaper",
        all: options.all === true,
      });
      if (options.json) return json(answer);
      print(formatReaper(answer as unknown as ReaperResponse));
    })
  );

program.command("metrics")
  .description("OpenMetrics text for both daemons (node_exporter's textfile collector)")
  .option(
    "--output <file>",
    "write to FILE atomically (a temporary file renamed) instead of stdout",
  )
  .action((options: { output?: string }) =>
    run(async () => {
      // A daemon that is down is reported (its _up is 0), not fatal: the
      // other one's figures still count.
      const status = async <S>(daemon: DaemonKind): Promise<S | null> => {
        try {
          const answer = await askDaemon(daemon, socketOf(daemon), { command: "status" });
          return answer.status as S;
        } catch (e) {
          if (!(e instanceof ControlError)) throw e;
          writeAllSync(Deno.stderr, `${NAME}: ${e.message}\n`);
          return null;
        }
      };
      const text = formatMetrics(
        await status<AccessoryStatus>("accessory"),
        await status<ReaperStatus>("reaper"),
      );
      if (options.output === undefined) return print(text);
      const temporary = `${options.output}.${Deno.pid}.tmp`;
      try {
        Deno.writeTextFileSync(temporary, text, { mode: 0o644 });
        Deno.renameSync(temporary, options.output);
      } catch (e) {
        try {
          Deno.removeSync(temporary);
        } catch {
          // not written
        }
        throw new ControlError(`--output ${options.output}: ${e instanceof Error ? e.message : e}`);
      }
    })
  );

try {
  // parseAsync: the actions are asynchronous (like parseCommandLine otherwise).
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  if (e instanceof CommanderError) Deno.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
  throw e;
}
Deno.exit(exitCode);
