// The process name (comm) of a PID namespace's init, which shows the
// namespace in ps/top. Pure.

/** The kernel keeps 15 bytes of comm (TASK_COMM_LEN 16 with the NUL). */
export const COMM_MAX = 15;

/**
 * `init-NAME`, or `i-NAME` when NAME is longer than 10 characters, cut to 15
 * bytes as the kernel would. The init gets its comm from the basename of the
 * file it executes, so "/" (allowed in a NAME, impossible in a file name) is
 * replaced by "_". NAME is 7-bit ASCII (the protocol guarantees it), so
 * characters are bytes.
 */
export function initProcessName(name: string): string {
  const full = name.length > 10 ? `i-${name}` : `init-${name}`;
  return full.slice(0, COMM_MAX).replaceAll("/", "_");
}
