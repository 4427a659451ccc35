// `deno task start` (what `npm start` runs): the accessory and the reaper in
// the foreground with safe defaults — the accessory on @cm4all-spawn, the
// reaper on the detected cgroup2 root with its default scopes and the
// shipped example script — their lines prefixed [accessory] / [reaper].
// Ctrl-C (SIGINT) or SIGTERM stops both.
import { collect, fatal, newProgram, parseCommandLine } from "../shared/cli.ts";
import { writeAllSync } from "../shared/log.ts";
import { getuid } from "../ffi/process.ts";
import { DEFAULT_REAPER_LUA_SOURCE } from "./layout.ts";
import { denoRun, Supervised } from "./supervisor.ts";
import { REPO } from "./dist.ts";
import { exists } from "./exists.ts";

const NAME = "cm4all-spawn-start";

const say = (line: string) => writeAllSync(Deno.stdout, `[start] ${line}\n`);

const program = newProgram(NAME, "Run the accessory and the reaper in the foreground.")
  .option("--listen <ADDRESS>", "the accessory's socket", "@cm4all-spawn")
  .option("--scope <PATH>", "a reaper scope, repeatable (default: the reaper's)", collect)
  .option("--lua <FILE>", "the reaper's script", `${REPO}/${DEFAULT_REAPER_LUA_SOURCE}`);
parseCommandLine(program, Deno.args);
const options = program.opts<{ listen: string; scope?: string[]; lua: string }>();

if (getuid() !== 0) {
  fatal(
    NAME,
    "must run as root: the accessory creates namespaces (CAP_SYS_ADMIN) and the reaper deletes cgroups",
  );
}

const reaperArgs = (options.scope ?? []).flatMap((scope) => ["--scope", scope]);
if (exists(options.lua)) {
  reaperArgs.push("--lua", options.lua);
} else {
  say(`${options.lua} does not exist: the reaper runs without Lua`);
}

const daemons = [
  new Supervised("accessory", denoRun("accessory/main.ts", ["--listen", options.listen]), {
    colour: 36,
  }),
  new Supervised("reaper", denoRun("reaper/main.ts", reaperArgs), { colour: 35 }),
];
say(`accessory pid ${daemons[0].child.pid}, reaper pid ${daemons[1].child.pid}; Ctrl-C stops both`);
const socketOption = options.listen === "@cm4all-spawn" ? "" : ` --socket ${options.listen}`;
say(
  `try: node_modules/.bin/deno run -A accessory/client_main.ts${socketOption} demo /bin/sh` +
    `   (or: node_modules/.bin/deno task demo)`,
);

let stopping: Promise<number> | undefined;
function stopAll(reason: string, code: number): Promise<number> {
  stopping ??= (async () => {
    say(`${reason}: stopping`);
    const statuses = await Promise.all(daemons.map((d) => d.stop("SIGTERM")));
    statuses.forEach((status, i) => {
      if (!status.success) say(`${daemons[i].name} exited with status ${status.code}`);
    });
    return statuses.every((s) => s.success) ? code : 1;
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void stopAll(signal, 0));
}
// A daemon that stops on its own takes the other one with it (after a
// signal, stopAll is already under way and returns that run's result).
const { daemon, status } = await Promise.race(
  daemons.map(async (d) => ({ daemon: d, status: await d.child.status })),
);
const code = await stopAll(`${daemon.name} exited with status ${status.code}`, 1);
say("stopped");
Deno.exit(code);
