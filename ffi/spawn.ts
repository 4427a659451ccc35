// posix_spawn(3) and waitid(2) on pidfds: starting and reaping a child without
// Deno's process machinery. posix_spawn is vfork+exec inside glibc, safe in a
// threaded process, and returns after the exec (or its failure).
//
// x86-64 glibc layouts: posix_spawn_file_actions_t 80 bytes, posix_spawnattr_t
// 336 bytes, sigset_t 128 bytes (bit sig-1), siginfo_t 128 bytes with si_code
// at 8, si_pid at 16, si_status at 24.
import { libc } from "./libc.ts";
import { cstr, lastErrno, SysError } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";
import { closeQuietly, dupCloseOnExec } from "./fd.ts";

const FILE_ACTIONS_SIZE = 80;
const SPAWNATTR_SIZE = 336;
const SIGSET_SIZE = 128;
const SIGINFO_SIZE = 128;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_RDONLY = 0;
const O_WRONLY = 1;
const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;

export interface SpawnOptions {
  /** The whole argument vector, argv[0] included. */
  argv: string[];
  /** "NAME=value" strings; default: an empty environment. */
  env?: string[];
  /** Working directory of the child (default: the caller's). */
  cwd?: string;
  /** Signals reset to SIG_DFL in the child; others keep their disposition
   * (ignored ones stay ignored across exec, caught ones become default). */
  defaultSignals?: number[];
  /** Child fd -> parent fd to dup2 there (e.g. pipe ends); 0-2 default to /dev/null. */
  fds?: Record<number, number>;
}

/** Call-returns-errno functions (posix_spawn*) throw SysError for nonzero results. */
function ok(result: number, call: string): void {
  if (result !== 0) throw new SysError(call, result);
}

function address(buf: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/** A NULL-terminated char *[] and the strings it points to (kept reachable). */
function stringArray(strings: string[]): { array: Uint8Array<ArrayBuffer>; keep: unknown[] } {
  const buffers = strings.map((s) => cstr(s));
  const pointers = new BigUint64Array(buffers.length + 1);
  buffers.forEach((b, i) => pointers[i] = address(b));
  return { array: new Uint8Array(pointers.buffer), keep: buffers };
}

function sigset(signals: number[]): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(SIGSET_SIZE);
  for (const sig of signals) set[(sig - 1) >> 3] |= 1 << ((sig - 1) & 7);
  return set;
}

/** posix_spawn's arguments, built once; free() after the call has returned. */
class SpawnCall {
  readonly actions = new Uint8Array(FILE_ACTIONS_SIZE);
  readonly attr = new Uint8Array(SPAWNATTR_SIZE);
  readonly pid = new Int32Array(1);
  readonly path: Uint8Array<ArrayBuffer>;
  readonly argv: ReturnType<typeof stringArray>;
  readonly env: ReturnType<typeof stringArray>;
  /** Strings and temporary fds that must outlive the call. */
  readonly #keep: unknown[] = [];
  readonly #temporary: number[] = [];
  #actionsReady = false;
  #attrReady = false;

  constructor(path: string, options: SpawnOptions) {
    this.path = cstr(path);
    try {
      ok(libc.posix_spawn_file_actions_init(this.actions), "posix_spawn_file_actions_init");
      this.#actionsReady = true;
      ok(libc.posix_spawnattr_init(this.attr), "posix_spawnattr_init");
      this.#attrReady = true;
      const fds = options.fds ?? {};
      // Ascending child fds; a parent fd equal to its child fd is first moved
      // elsewhere, since dup2(fd, fd) would keep its close-on-exec flag.
      for (const [child, parent] of Object.entries(fds)) {
        let from = parent;
        if (from === Number(child)) {
          from = dupCloseOnExec(parent);
          this.#temporary.push(from);
        }
        ok(
          libc.posix_spawn_file_actions_adddup2(this.actions, from, Number(child)),
          "posix_spawn_file_actions_adddup2",
        );
      }
      const devNull = cstr("/dev/null");
      this.#keep.push(devNull);
      for (const fd of [0, 1, 2]) {
        if (fd in fds) continue;
        ok(
          libc.posix_spawn_file_actions_addopen(
            this.actions,
            fd,
            devNull,
            fd ? O_WRONLY : O_RDONLY,
            0,
          ),
          "posix_spawn_file_actions_addopen",
        );
      }
      if (options.cwd !== undefined) {
        const cwd = cstr(options.cwd);
        this.#keep.push(cwd);
        ok(
          libc.posix_spawn_file_actions_addchdir_np(this.actions, cwd),
          "posix_spawn_file_actions_addchdir_np",
        );
      }
      ok(libc.posix_spawnattr_setsigmask(this.attr, sigset([])), "posix_spawnattr_setsigmask");
      ok(
        libc.posix_spawnattr_setsigdefault(this.attr, sigset(options.defaultSignals ?? [])),
        "posix_spawnattr_setsigdefault",
      );
      ok(
        libc.posix_spawnattr_setflags(this.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
        "posix_spawnattr_setflags",
      );
      this.argv = stringArray(options.argv);
      this.env = stringArray(options.env ?? []);
    } catch (e) {
      this.free();
      throw e;
    }
  }

  /** posix_spawn's arguments, in order. */
  get arguments() {
    return [
      new Uint8Array(this.pid.buffer),
      this.path,
      this.actions,
      this.attr,
      this.argv.array,
      this.env.array,
    ] as const;
  }

  /** posix_spawn's result: the pid, or a SysError. */
  result(code: number, path: string): number {
    ok(code, `posix_spawn(${path})`);
    return this.pid[0];
  }

  free(): void {
    if (this.#attrReady) libc.posix_spawnattr_destroy(this.attr);
    if (this.#actionsReady) libc.posix_spawn_file_actions_destroy(this.actions);
    this.#attrReady = this.#actionsReady = false;
    for (const fd of this.#temporary.splice(0)) closeQuietly(fd);
    void this.#keep;
  }
}

/**
 * Starts `path` with stdin/stdout/stderr on /dev/null (unless `fds` maps
 * them), an empty signal mask and the given environment; returns the child's
 * pid. The child is ours to reap (see reap()).
 */
export function spawnProcess(path: string, options: SpawnOptions): number {
  const call = new SpawnCall(path, options);
  try {
    return call.result(
      libc.posix_spawn(...call.arguments),
      path,
    );
  } finally {
    call.free();
  }
}

/**
 * spawnProcess() on a worker thread: the calling (JS) thread is not held up
 * while the child is created and execs (a large share of a spawn's cost).
 * Safe because the child takes the spawning thread's namespaces, which are the
 * daemon's own: never use it for a child that must start in an unshared
 * namespace.
 */
export async function spawnProcessAsync(path: string, options: SpawnOptions): Promise<number> {
  const call = new SpawnCall(path, options);
  try {
    return call.result(
      await libc.posix_spawn_nonblocking(...call.arguments),
      path,
    );
  } finally {
    call.free();
  }
}

export interface ExitStatus {
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  /** The terminating signal, or null if it exited. */
  signal: number | null;
}

/**
 * waitid(P_PIDFD, WEXITED) on a child's pidfd. With `block` false
 * (WNOHANG) returns null while the child runs. Also null if it was reaped
 * already (ECHILD).
 */
export function reap(pidfd: number, block = false): ExitStatus | null {
  const info = new Uint8Array(SIGINFO_SIZE);
  const r = libc.waitid(P_PIDFD, pidfd, info, WEXITED | (block ? 0 : WNOHANG));
  if (r < 0) {
    const errno = lastErrno();
    if (errno === Errno.ECHILD) return null;
    throw new SysError(`waitid(P_PIDFD, ${pidfd})`, errno);
  }
  const view = new DataView(info.buffer);
  if (view.getInt32(16, true) === 0) return null; // WNOHANG: still running
  const status = view.getInt32(24, true);
  return view.getInt32(8, true) === CLD_EXITED
    ? { code: status, signal: null }
    : { code: null, signal: status };
}
