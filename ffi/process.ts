import { libc } from "./libc.ts";
import { check, checkAllowing, cstr } from "./sys_error.ts";
import { Errno } from "./errno_names.ts";

export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGSTOP: 19,
} as const;

export function getpid(): number {
  return libc.getpid();
}

/**
 * sched_yield(2): lets a task that is runnable on this CPU run first (it
 * cannot fail on Linux). Returns at once when there is none.
 */
export function schedYield(): void {
  libc.sched_yield();
}

export function getuid(): number {
  return libc.getuid();
}

/** kill(2); returns false if the process no longer exists (ESRCH). */
export function kill(pid: number, signal: number): boolean {
  return checkAllowing(libc.kill(pid, signal), `kill(${pid}, ${signal})`, [Errno.ESRCH]) >= 0;
}

const PR_SET_NAME = 15;
const PR_SET_CHILD_SUBREAPER = 36;

/** The calling thread's comm (15 bytes at most). */
export function setThreadName(name: string): void {
  const buf = cstr(name.slice(0, 15));
  const ptr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  check(libc.prctl(PR_SET_NAME, ptr, 0n, 0n, 0n), "prctl(PR_SET_NAME)");
}

export function setChildSubreaper(on = true): void {
  check(
    libc.prctl(PR_SET_CHILD_SUBREAPER, on ? 1n : 0n, 0n, 0n, 0n),
    "prctl(PR_SET_CHILD_SUBREAPER)",
  );
}

export const RLIMIT_NOFILE = 7;

export interface ResourceLimit {
  soft: bigint;
  hard: bigint;
}

export function getrlimit(resource: number): ResourceLimit {
  const buf = new BigUint64Array(2);
  check(libc.getrlimit(resource, new Uint8Array(buf.buffer)), `getrlimit(${resource})`);
  return { soft: buf[0], hard: buf[1] };
}

export function setrlimit(resource: number, limit: ResourceLimit): void {
  const buf = new BigUint64Array([limit.soft, limit.hard]);
  check(libc.setrlimit(resource, new Uint8Array(buf.buffer)), `setrlimit(${resource})`);
}

const SYS_PIDFD_OPEN = 434n;

/** pidfd_open(2): an fd that turns readable (EPOLLIN) when pid exits. */
export function pidfdOpen(pid: number): number {
  return check(libc.syscall2(SYS_PIDFD_OPEN, BigInt(pid), 0n), `pidfd_open(${pid})`);
}

const SYS_PIDFD_SEND_SIGNAL = 424n;

/**
 * pidfd_send_signal(2): signals the process a pidfd refers to, immune to pid
 * reuse. Returns false if it has already exited (ESRCH).
 */
export function pidfdSendSignal(pidfd: number, signal: number): boolean {
  const r = libc.syscall4(SYS_PIDFD_SEND_SIGNAL, BigInt(pidfd), BigInt(signal), 0n, 0n);
  return checkAllowing(r, `pidfd_send_signal(${pidfd}, ${signal})`, [Errno.ESRCH]) >= 0;
}

// struct sigaction on x86-64 glibc: sa_handler (8), sa_mask (128), sa_flags (4 + 4
// padding), sa_restorer (8). Only copied around and sa_handler set, never parsed.
const SIGACTION_SIZE = 152;
const SIG_IGN = 1n;

/**
 * Runs fn with `signal` ignored process-wide and then restores the previous
 * action exactly. For a child that must inherit SIG_IGN (ignored dispositions
 * survive execve); fn must be synchronous and short, as every thread is affected.
 */
export function withSignalIgnored<T>(signal: number, fn: () => T): T {
  const ignore = new Uint8Array(SIGACTION_SIZE);
  new DataView(ignore.buffer).setBigUint64(0, SIG_IGN, true);
  const previous = new Uint8Array(SIGACTION_SIZE);
  check(libc.sigaction(signal, ignore, previous), `sigaction(${signal}, SIG_IGN)`);
  try {
    return fn();
  } finally {
    check(libc.sigaction(signal, previous, null), `sigaction(${signal}, restore)`);
  }
}
