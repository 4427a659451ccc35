// The accessory's own parser of the usual command line (options.ts) agrees
// with commander (cli_program.ts) wherever it answers, and leaves everything
// else (help, version, errors) to commander. Pure.
import { CommanderError } from "commander";
import { assert, assertEquals } from "../assert.ts";
import { parseSimply } from "../../accessory/options.ts";
import { accessoryProgram } from "../../accessory/cli_program.ts";

/** commander's options, or its error code (it must not exit the test). */
function viaCommander(args: string[]): Record<string, unknown> | string {
  const program = accessoryProgram().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    program.parse(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.code;
    throw e;
  }
  return { ...program.opts() };
}

Deno.test("accessory options: the simple parser agrees with commander where it answers", () => {
  const lines = [
    [],
    ["--listen", "@cm4all-spawn-bench-1", "--namespace-ttl", "600", "--max-names", "100000"],
    ["--listen=@a", "--listen", "/run/x.sock", "--listen=@b"],
    ["--namespace-ttl", "0.5", "--pool-size", "0"],
    ["--namespace-ttl=60", "--namespace-ttl=61"], // the last one counts
    ["--allow-uid", "1000", "--allow-gid", "33", "--allow-uid", "1001"],
    ["--control", "/run/c", "--max-connections", "5", "--max-connections-per-uid", "2"],
    ["--max-name-length", "10", "--max-user-namespaces", "3", "--max-map-bytes", "100"],
    ["--max-map-lines", "4", "--max-refused-connections", "9", "--refused-idle-timeout", "3"],
    ["--max-user-namespaces-per-uid", "7", "--listen", "@with=equals"],
    ["--listen=", "--control="], // empty values
    ["--cpu-slice", "0"],
    ["--cpu-slice=100", "--cpu-slice", "100000"],
  ];
  for (const args of lines) {
    const simple = parseSimply(args);
    assert(simple !== null, `the simple parser gave up on ${JSON.stringify(args)}`);
    assertEquals({ ...simple }, viaCommander(args), JSON.stringify(args));
  }
});

Deno.test("accessory options: help, version and every error go to commander", () => {
  const lines: [string[], string][] = [
    [["--help"], "commander.helpDisplayed"],
    [["-h"], "commander.helpDisplayed"],
    [["--version"], "commander.version"],
    [["--bogus"], "commander.unknownOption"],
    [["--listen"], "commander.optionMissingArgument"],
    [["--max-names", "0"], "commander.invalidArgument"],
    [["--max-names", "1e3"], "commander.invalidArgument"],
    [["--namespace-ttl", "-1"], "commander.invalidArgument"],
    [["--namespace-ttl=-1"], "commander.invalidArgument"],
    [["--pool-size", "x"], "commander.invalidArgument"],
    [["positional"], "commander.excessArguments"],
    [["--max-names=12", "--help"], "commander.helpDisplayed"],
    [["--cpu-slice", "99"], "commander.invalidArgument"], // below the kernel's 0.1 ms
    [["--cpu-slice", "100001"], "commander.invalidArgument"],
    [["--cpu-slice", "0.5"], "commander.invalidArgument"],
  ];
  for (const [args, code] of lines) {
    assertEquals(parseSimply(args), null, JSON.stringify(args));
    assertEquals(viaCommander(args), code, JSON.stringify(args));
  }
});
