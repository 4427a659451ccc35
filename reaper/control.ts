// The reaper's answers on the control socket (shared/control_protocol.ts).
import type { ControlHandler } from "../shared/control_server.ts";
import type { ReaperDaemon } from "./daemon.ts";
import { reaperState, reaperStatus } from "./status.ts";

export function reaperControlHandler(daemon: ReaperDaemon, startedAt: number): ControlHandler {
  return (request) => {
    switch (request.command) {
      case "status":
        return { status: reaperStatus(daemon, startedAt) };
      case "reaper":
        return reaperState(daemon, startedAt, request.all === true);
      default:
        return { error: `the reaper does not answer '${request.command}'` };
    }
  };
}
