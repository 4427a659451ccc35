// The accessory's command-line options: one table, read by two parsers.
// The daemon parses the usual command line (`--option value` or
// `--option=value`, every value valid) itself: commander and the Node
// compatibility code it pulls in would stay in the daemon's heap for good
// (some 6 MB of its 20 MB budget, issue 12). Anything else (--help,
// --version, an unknown option, a bad value, a missing one) goes to commander
// (cli_program.ts), which answers exactly as before. Both use the same value
// parsers, so they agree wherever the simple one answers (options_test.ts).
import {
  collect,
  nonNegativeNumber,
  OptionValueError,
  positiveInteger,
} from "../shared/option_values.ts";
import { MAX_SLICE_US, MIN_SLICE_US } from "./cpu_slice.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { DEFAULT_ADDRESS } from "./listener.ts";
import { DEFAULT_POOL } from "./namespace_pool.ts";

export const NAME = "cm4all-spawn-accessory";
export const DESCRIPTION = "Creates namespaces for process spawners.";

export type AccessoryOptions =
  & {
    listen?: string[];
    namespaceTtl: number;
    allowUid?: string[];
    allowGid?: string[];
    control?: string;
    poolSize: number;
    cpuSlice: number;
  }
  & Limits;

export interface OptionSpec {
  /** As commander takes it: "--long <value>". */
  flags: string;
  /** The key in AccessoryOptions (commander's camel case of the long name). */
  key: keyof AccessoryOptions;
  description: string;
  /** The value parser; `previous` is the value so far (a default, or earlier occurrences). */
  parse(value: string, previous: unknown): unknown;
  default?: number;
}

const limit = (flags: string, key: keyof Limits, description: string): OptionSpec => ({
  flags,
  key,
  description,
  parse: positiveInteger(flags.split(" ")[0]),
  default: DEFAULT_LIMITS[key],
});

export const OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--listen <address>",
    key: "listen",
    description:
      `listen on ADDRESS: @abstract or a path, repeatable (default ${DEFAULT_ADDRESS}; ` +
      "ignored under socket activation)",
    parse: collect,
  },
  {
    flags: "--namespace-ttl <seconds>",
    key: "namespaceTtl",
    description: "how long an unleased name lives after its last use",
    parse: nonNegativeNumber("--namespace-ttl"),
    default: 60,
  },
  limit("--max-name-length <bytes>", "maxNameLength", "longest NAME"),
  limit("--max-names <n>", "maxNames", "live names"),
  limit("--max-user-namespaces <n>", "maxUserNamespaces", "user namespaces per name"),
  limit("--max-map-bytes <bytes>", "maxMapBytes", "size of one uid_map/gid_map"),
  limit("--max-map-lines <n>", "maxMapLines", "lines of one uid_map/gid_map"),
  limit(
    "--max-connections <n>",
    "maxConnections",
    "open client connections (beyond: closed)",
  ),
  limit(
    "--max-connections-per-uid <n>",
    "maxConnectionsPerUid",
    "open connections of one uid but 0",
  ),
  limit(
    "--max-refused-connections <n>",
    "maxRefusedConnections",
    "open connections of uids not allowed, together",
  ),
  limit(
    "--refused-idle-timeout <seconds>",
    "refusedIdleTimeout",
    "close a connection of a uid not allowed after this long without a request",
  ),
  limit(
    "--max-user-namespaces-per-uid <n>",
    "maxUserNamespacesPerUid",
    "user namespaces made for one uid but 0, over all names",
  ),
  {
    flags: "--allow-uid <uid>",
    key: "allowUid",
    description: "also allow UID to request namespaces (repeatable; uid 0 always may)",
    parse: collect,
  },
  {
    flags: "--allow-gid <gid>",
    key: "allowGid",
    description: "also allow GID to request namespaces (repeatable)",
    parse: collect,
  },
  {
    flags: "--control <path>",
    key: "control",
    description: "the control socket for cm4all-spawnctl (default: control in " +
      "$RUNTIME_DIRECTORY, else /run/cm4all-spawn-accessory/control)",
    parse: (value: string) => value,
  },
  {
    flags: "--pool-size <n>",
    key: "poolSize",
    description: "PID (with IPC) namespaces and user namespace helpers each kept ready ahead " +
      "of demand (not counted in --max-names; 0: make them on demand)",
    parse: nonNegativeNumber("--pool-size"),
    default: DEFAULT_POOL.inits,
  },
  {
    flags: "--cpu-slice <microseconds>",
    key: "cpuSlice",
    description: "the CPU time slice the daemon asks the kernel for, and with it the inits and " +
      `helpers it makes (Linux 6.12+; ${MIN_SLICE_US}-${MAX_SLICE_US}; 0: the kernel's default): ` +
      "on a busy host, a short one makes names faster in bursts and a lone new name slower",
    parse: cpuSlice,
    default: 0,
  },
];

function cpuSlice(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || (n !== 0 && (n < MIN_SLICE_US || n > MAX_SLICE_US))) {
    throw new OptionValueError(
      `--cpu-slice wants 0 or ${MIN_SLICE_US}-${MAX_SLICE_US} microseconds, not '${value}'`,
    );
  }
  return n;
}

const byFlag = new Map(OPTIONS.map((o) => [o.flags.split(" ")[0], o]));

/**
 * The options of a usual command line, or null: then commander must parse
 * it (help, version, or something to report). Never exits.
 */
export function parseSimply(args: readonly string[]): AccessoryOptions | null {
  const values: Record<string, unknown> = {};
  for (const o of OPTIONS) if (o.default !== undefined) values[o.key] = o.default;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const equals = arg.indexOf("=");
    const flag = equals > 0 ? arg.slice(0, equals) : arg;
    const option = flag.startsWith("--") ? byFlag.get(flag) : undefined;
    if (option === undefined) return null;
    let value: string;
    if (equals > 0) {
      value = arg.slice(equals + 1);
    } else {
      if (i + 1 >= args.length || args[i + 1].startsWith("-")) return null;
      value = args[++i];
    }
    try {
      values[option.key] = option.parse(value, values[option.key]);
    } catch {
      return null; // commander says what is wrong
    }
  }
  return values as unknown as AccessoryOptions;
}
