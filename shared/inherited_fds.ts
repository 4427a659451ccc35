// Whatever a daemon's parent left open (a shell's fds, a test runner's
// pipes, socket-activation fds) must not reach the processes the daemon
// starts (inits, helpers, programs a Lua script runs): marked close-on-exec
// at start-up. The daemons' own fds are all opened close-on-exec.
import { isCloseOnExec, setCloseOnExec } from "../ffi/fd.ts";

export function markInheritedCloseOnExec(): void {
  let names: string[];
  try {
    names = [...Deno.readDirSync("/proc/self/fd")].map((e) => e.name);
  } catch {
    return; // no /proc: nothing to do
  }
  for (const name of names) {
    const fd = Number(name);
    try {
      if (fd > 2 && !isCloseOnExec(fd)) setCloseOnExec(fd);
    } catch {
      // the directory listing's own fd, closed by now
    }
  }
}
