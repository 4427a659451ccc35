// The accessory's answers on the control socket (shared/control_protocol.ts).
import type { ControlHandler } from "../shared/control_server.ts";
import type { AccessoryDaemon } from "./daemon.ts";
import { accessoryStatus, nameDetail, nameInfo } from "./status.ts";

export function accessoryControlHandler(
  daemon: AccessoryDaemon,
  startedAt: number,
): ControlHandler {
  const status = () =>
    accessoryStatus({
      registry: daemon.registry,
      handler: daemon.handler,
      connections: daemon.connections,
      startedAt,
    });
  return (request) => {
    const now = daemon.registry.now();
    switch (request.command) {
      case "status":
        return { status: status() };
      case "names": {
        const names = [...daemon.registry.entries()].filter((e) => !e.discarded)
          .map((e) => nameInfo(e, now))
          .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
        return { status: status(), names };
      }
      case "name": {
        const entry = daemon.registry.get(request.name!);
        if (entry === undefined || entry.discarded) {
          return { error: `no such name: ${JSON.stringify(request.name)}` };
        }
        return { name: nameDetail(entry, now) };
      }
      default:
        return { error: `the accessory does not answer '${request.command}'` };
    }
  };
}
