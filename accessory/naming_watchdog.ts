// Inits being named, and when each must have answered. One timer for all: a
// Deno timer set and cleared per name costs two wakeups of Deno's timer
// thread on the reply's path.

/** How long an init may take to show as init-NAME once told. */
export const NAMING_TIMEOUT_MS = 10_000;

const naming = new Map<object, { deadline: number; fail: () => void }>();
let watchdog: ReturnType<typeof setTimeout> | undefined;

/** `fail` runs if `init` is still watched NAMING_TIMEOUT_MS from now. */
export function watchNaming(init: object, fail: () => void): void {
  naming.set(init, { deadline: performance.now() + NAMING_TIMEOUT_MS, fail });
  if (watchdog === undefined) watchdog = startWatchdog(NAMING_TIMEOUT_MS);
}

/** `init` answered, or is gone. */
export function unwatchNaming(init: object): void {
  naming.delete(init);
}

function startWatchdog(ms: number): ReturnType<typeof setTimeout> {
  const id = setTimeout(check, ms);
  Deno.unrefTimer(Number(id)); // a stopping daemon does not wait for it
  return id;
}

function check(): void {
  watchdog = undefined;
  const now = performance.now();
  let next = Infinity;
  for (const [init, { deadline, fail }] of naming) {
    if (deadline <= now) {
      naming.delete(init);
      fail();
    } else next = Math.min(next, deadline);
  }
  if (next !== Infinity) watchdog = startWatchdog(Math.ceil(next - now));
}
