import { libc } from "./libc.ts";
import { check } from "./sys_error.ts";
import { O_RDONLY, open } from "./fd.ts";

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

const NAMES: Record<number, string> = {
  [CLONE_NEWNS]: "CLONE_NEWNS",
  [CLONE_NEWUTS]: "CLONE_NEWUTS",
  [CLONE_NEWIPC]: "CLONE_NEWIPC",
  [CLONE_NEWUSER]: "CLONE_NEWUSER",
  [CLONE_NEWPID]: "CLONE_NEWPID",
  [CLONE_NEWNET]: "CLONE_NEWNET",
};

function flagNames(flags: number): string {
  return Object.entries(NAMES)
    .filter(([bit]) => (flags & Number(bit)) !== 0)
    .map(([, name]) => name)
    .join("|") || String(flags);
}

/** unshare(2) for the calling (JS) thread. */
export function unshare(flags: number): void {
  check(libc.unshare(flags), `unshare(${flagNames(flags)})`);
}

/** setns(2) for the calling (JS) thread; nstype 0 accepts any kind. */
export function setns(fd: number, nstype = 0): void {
  check(libc.setns(fd, nstype), `setns(${fd}, ${nstype ? flagNames(nstype) : "0"})`);
}

/** Opens /proc/PID/ns/KIND (e.g. "ipc", "pid_for_children"), close-on-exec. */
export function openNamespace(pid: number | "self" | "thread-self", kind: string): number {
  return open(`/proc/${pid}/ns/${kind}`, O_RDONLY);
}

export const MS_REC = 0x4000;
export const MS_SLAVE = 0x80000;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;

const NS_GET_USERNS = 0xb701n; // _IO(0xb7, 0x1)

/**
 * ioctl(NS_GET_USERNS): an fd of the user namespace that owns the namespace
 * behind `fd` (whose CAP_SYS_ADMIN it takes to enter or create it).
 */
export function owningUserNamespace(fd: number): number {
  return check(libc.ioctl(fd, NS_GET_USERNS), `ioctl(${fd}, NS_GET_USERNS)`);
}
