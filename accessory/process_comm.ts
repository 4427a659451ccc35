// Compares a process's comm as /proc/PID/comm shows it with the wanted one.
// Pure. The kernel appends exactly one "\n"; everything before it is the
// name, byte for byte: a 15-byte init-NAME may end in a space (NAME "abcde "
// gives "init-abcde "), so trimming whitespace would never match it.

const NEWLINE = 0x0a;

/** The bytes of /proc/PID/comm without the one newline the kernel adds. */
export function commBytes(file: Uint8Array): Uint8Array {
  return file.length > 0 && file[file.length - 1] === NEWLINE ? file.subarray(0, -1) : file;
}

/** True if the comm file shows exactly `comm` (7-bit ASCII, as init names are). */
export function commIs(file: Uint8Array, comm: string): boolean {
  const actual = commBytes(file);
  if (actual.length !== comm.length) return false;
  for (let i = 0; i < comm.length; i++) {
    const c = comm.charCodeAt(i);
    if (c > 0x7f || actual[i] !== c) return false;
  }
  return true;
}
