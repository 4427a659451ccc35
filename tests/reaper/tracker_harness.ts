// The tracker on an in-memory hierarchy, with fake timers, a recording hook
// and a settle() that delivers events until none are left (no root needed).
import { CgroupTracker } from "../../reaper/cgroup/tracker.ts";
import type { ReaperHook, ReleasedCgroup } from "../../reaper/hook.ts";
import { FakeCgroupFs, FakeTimers } from "./fake_cgroup_fs.ts";

export const SCOPE = "/system.slice/system-cm4all.slice/bp-spawn.scope";

export type TrackerHarness = ReturnType<typeof setupTracker>;

export function setupTracker(
  options: { scopes?: string[]; prepare?: (fs: FakeCgroupFs) => void } = {},
) {
  const fs = new FakeCgroupFs();
  options.prepare?.(fs);
  const timers = new FakeTimers();
  const released: ReleasedCgroup[] = [];
  const lines: string[] = [];
  const logs: string[] = [];
  const hook: ReaperHook = {
    cgroupReleased: (c) => {
      released.push(c);
      return Promise.resolve(true);
    },
    reload: () => {},
    close: () => Promise.resolve(),
  };
  const tracker = new CgroupTracker({
    fs,
    scopes: options.scopes ?? [SCOPE],
    hook,
    writeStatsLine: (line) => lines.push(line),
    log: (priority, message) => logs.push(`${priority}: ${message}`),
    timers,
  });
  /** Delivers queued events until none are left, then lets `ms` pass. */
  const settle = (ms = 0) => {
    for (let i = 0; i < 100; i++) {
      const events = fs.drain();
      if (events.length > 0) tracker.handleEvents(events);
      timers.advance(i === 0 ? ms : 0);
      if (fs.queue.length === 0) return;
    }
    throw new Error("events keep coming");
  };
  const paths = () => released.map((c) => c.path);
  return { fs, timers, tracker, released, lines, logs, settle, paths };
}
