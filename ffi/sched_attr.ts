// sched_getattr(2) and sched_setattr(2): a task's scheduling policy and
// parameters, among them (Linux 6.12+) the time slice a SCHED_OTHER task asks
// for (sched_runtime: EEVDF's custom slice). glibc before 2.41 has no
// wrappers: through syscall(2).
import { libc } from "./libc.ts";
import { check } from "./sys_error.ts";

// struct sched_attr, SCHED_ATTR_SIZE_VER1 (include/uapi/linux/sched/types.h):
//   u32 size; u32 sched_policy; u64 sched_flags; s32 sched_nice; u32 sched_priority;
//   u64 sched_runtime; u64 sched_deadline; u64 sched_period; u32 sched_util_min, sched_util_max;
const SCHED_ATTR_SIZE = 56;

const SYSCALLS: Record<string, { get: bigint; set: bigint }> = {
  x86_64: { get: 315n, set: 314n },
  aarch64: { get: 275n, set: 274n },
};

export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;
/** Children start with the default policy and nice value (systemd's CPUSchedulingResetOnFork=). */
export const SCHED_FLAG_RESET_ON_FORK = 0x01n;

export interface SchedAttr {
  policy: number;
  flags: bigint;
  nice: number;
  priority: number;
  /** For SCHED_OTHER and SCHED_BATCH (Linux 6.12+): the time slice in ns; the kernel's default if not asked for. */
  runtime: bigint;
  deadline: bigint;
  period: bigint;
}

function numbers(): { get: bigint; set: bigint } {
  const n = SYSCALLS[Deno.build.arch];
  if (n === undefined) {
    throw new Error(`sched_getattr/sched_setattr: no syscall numbers for ${Deno.build.arch}`);
  }
  return n;
}

const address = (buf: Uint8Array<ArrayBuffer>) =>
  BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));

/** sched_getattr(2) of `pid` (0: the calling thread). */
export function getSchedAttr(pid: number): SchedAttr {
  const buf = new Uint8Array(SCHED_ATTR_SIZE);
  check(
    libc.syscall4(numbers().get, BigInt(pid), address(buf), BigInt(SCHED_ATTR_SIZE), 0n),
    `sched_getattr(${pid})`,
  );
  const v = new DataView(buf.buffer);
  return {
    policy: v.getUint32(4, true),
    flags: v.getBigUint64(8, true),
    nice: v.getInt32(16, true),
    priority: v.getUint32(20, true),
    runtime: v.getBigUint64(24, true),
    deadline: v.getBigUint64(32, true),
    period: v.getBigUint64(40, true),
  };
}

/** sched_setattr(2) of `pid` (0: the calling thread); the flags are passed as they are. */
export function setSchedAttr(pid: number, attr: SchedAttr): void {
  const buf = new Uint8Array(SCHED_ATTR_SIZE);
  const v = new DataView(buf.buffer);
  v.setUint32(0, SCHED_ATTR_SIZE, true);
  v.setUint32(4, attr.policy, true);
  v.setBigUint64(8, attr.flags, true);
  v.setInt32(16, attr.nice, true);
  v.setUint32(20, attr.priority, true);
  v.setBigUint64(24, attr.runtime, true);
  v.setBigUint64(32, attr.deadline, true);
  v.setBigUint64(40, attr.period, true);
  check(libc.syscall4(numbers().set, BigInt(pid), address(buf), 0n, 0n), `sched_setattr(${pid})`);
}
