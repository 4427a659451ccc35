// Starts the accessory daemon as a subprocess on a unique abstract socket and
// offers what the integration tests look at: fds, processes, the log.
import { closeQuietly } from "../../ffi/fd.ts";
import { bind, setTimeoutOption, SO_RCVTIMEO, SOCK_DGRAM, unixSocket } from "../../ffi/socket.ts";
import { MessageReceiver } from "../../ffi/socket_message.ts";
import { FACTORY_VARIABLE } from "../../accessory/namespace_pool.ts";
import { POOL_PROGRAM_EXE, poolProgramImage } from "../../accessory/pool_program.ts";
import { getSchedAttr, setSchedAttr } from "../../ffi/sched_attr.ts";

export const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;
export const DAEMON = new URL("../../accessory/main.ts", import.meta.url).pathname;
export const CLIENT = new URL("../../accessory/client_main.ts", import.meta.url).pathname;

let counter = 0;

/** An abstract socket name no other test (or test run) uses. */
export function uniqueAddress(what = "accessory"): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `@cm4all-spawn-test-${what}-${Deno.pid}-${++counter}-${random}`;
}

export class Daemon {
  readonly #stderr: Promise<string>;
  #stopped = false;

  private constructor(readonly address: string, readonly child: Deno.ChildProcess) {
    this.#stderr = new Response(child.stderr).text();
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * Starts the daemon and waits for READY=1 on a NOTIFY_SOCKET of our own
   * (so the test also covers the systemd notification).
   */
  static async start(
    args: string[] = [],
    env: Record<string, string> = {},
    /** A command the daemon runs under, e.g. ["prlimit", "--nofile=64"]. */
    wrapper: string[] = [],
    /** The listening address (default: a fresh unique one). */
    address = uniqueAddress(),
  ): Promise<Daemon> {
    const notifyAddress = uniqueAddress("notify");
    const notify = unixSocket(SOCK_DGRAM, false);
    try {
      bind(notify, notifyAddress);
      setTimeoutOption(notify, SO_RCVTIMEO, 100);
      const command = [...wrapper, DENO, "run", "-A", DAEMON, "--listen", address, ...args];
      const child = new Deno.Command(command[0], {
        args: command.slice(1),
        env: { NOTIFY_SOCKET: notifyAddress, ...env },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const daemon = new Daemon(address, child);
      const buf = new Uint8Array(256);
      const receiver = new MessageReceiver();
      const end = performance.now() + 15_000;
      let text = "";
      while (performance.now() < end && alive(child.pid)) {
        const message = receiver.receive(notify, buf, 0);
        if (message) {
          text = new TextDecoder().decode(buf.subarray(0, message.length));
          break;
        }
        await new Promise((r) => setTimeout(r, 0));
      }
      if (text !== "READY=1") {
        const { log } = await daemon.stop("SIGKILL");
        throw new Error(
          `daemon did not report READY=1 (got ${JSON.stringify(text)}); log:\n${log}`,
        );
      }
      return daemon;
    } finally {
      closeQuietly(notify);
    }
  }

  signal(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** SIGTERM and wait; returns the exit code and everything logged. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; log: string }> {
    if (!this.#stopped) {
      this.#stopped = true;
      try {
        this.child.kill(signal);
      } catch {
        // already exited
      }
    }
    const timeout = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, 10_000);
    const status = await this.child.status;
    clearTimeout(timeout);
    return { code: status.code, log: await this.#stderr };
  }

  /** Direct children of the daemon (inits and helpers) as pid -> comm. */
  children(): Map<number, string> {
    return childrenOf(this.pid);
  }

  /** The init processes (comm starting with "init-" or "i-") the daemon started. */
  inits(): Map<number, string> {
    return new Map(
      [...this.children()].filter(([, comm]) => comm.startsWith("init-") || comm.startsWith("i-")),
    );
  }
}

/** pid -> comm of every process whose parent is `parent`. */
export function childrenOf(parent: number): Map<number, string> {
  const result = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readProc(`/proc/${entry.name}/stat`);
    if (stat === null) continue;
    // pid (comm) state ppid ...: comm may contain spaces and parentheses.
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    if (Number(fields[1]) === parent) {
      result.set(Number(entry.name), stat.slice(stat.indexOf("(") + 1, close));
    }
  }
  return result;
}

export function readProc(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** True while /proc/PID exists and is not a zombie. */
export function alive(pid: number): boolean {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

export function comm(pid: number): string | null {
  return readProc(`/proc/${pid}/comm`)?.trimEnd() ?? null;
}

/** readlink of /proc/self/fd/N, e.g. "pid:[4026532178]". */
export function fdKind(fd: number): string {
  return Deno.readLinkSync(`/proc/self/fd/${fd}`);
}

/** Polls until `condition` holds or `ms` pass; returns whether it held. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return condition();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid of the init of the PID namespace behind fd (PID 1 seen from outside). */
export function initOf(pidNamespaceFd: number, candidates: Iterable<number>): number | null {
  const target = fdKind(pidNamespaceFd);
  for (const pid of candidates) {
    try {
      if (Deno.readLinkSync(`/proc/${pid}/ns/pid`) === target) return pid;
    } catch {
      // gone
    }
  }
  return null;
}

/** The daemon's runtime directory: the one it holds open (its flock). */
export function runtimeDirectoryOf(daemonPid: number): string {
  for (const entry of Deno.readDirSync(`/proc/${daemonPid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${daemonPid}/fd/${entry.name}`);
      if (/\/cm4all-spawn-accessory\.[^/]*$/.test(target)) return target;
    } catch {
      // closed meanwhile
    }
  }
  throw new Error(`daemon ${daemonPid} holds no runtime directory`);
}

/** The environment that makes a daemon use the perl factory instead of the pool program. */
export const PERL_FACTORY = { [FACTORY_VARIABLE]: "perl" };
/** Whether daemons started without PERL_FACTORY use the pool program (this machine has one). */
export const POOL_PROGRAM = poolProgramImage() !== null;

/** What a named init executes: the pool program, or sleep (perl factory). */
export function initExecutable(perl: boolean): string {
  return perl || !POOL_PROGRAM ? "/usr/bin/sleep" : POOL_PROGRAM_EXE;
}

/** Whether this kernel takes a custom time slice (Linux 6.12+): tried on a child of our own. */
export function kernelTakesCustomSlices(): boolean {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    setSchedAttr(child.pid, { ...getSchedAttr(child.pid), flags: 0n, runtime: 300_000n });
    return getSchedAttr(child.pid).runtime === 300_000n;
  } catch {
    return false;
  } finally {
    child.kill("SIGKILL");
    child.status.then(() => {}, () => {});
  }
}
