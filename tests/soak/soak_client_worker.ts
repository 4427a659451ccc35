// One soak client (a Worker thread, so that its blocking socket calls run in
// parallel with the others): creates and releases names until told to stop.
/// <reference lib="deno.worker" />
import {
  AccessoryConnection,
  closeNamespaces,
  namespaceRequest,
  ServerError,
} from "../../shared/client.ts";

interface Start {
  address: string;
  id: number;
  names: number;
}

const MAPS = ["0 0 1\n", "0 1000 1\n", "0 0 65536\n"];
let stop = false;
const stats = { requests: 0, errors: 0, failures: 0, connections: 0 };

self.onmessage = (event: MessageEvent<Start | "stop">) => {
  if (event.data === "stop") {
    stop = true;
    return;
  }
  void run(event.data);
};

async function run({ address, id, names }: Start): Promise<void> {
  let lastReport = 0;
  while (!stop) {
    // A few requests per connection, then a new one.
    let c: AccessoryConnection | null = null;
    try {
      c = new AccessoryConnection(address, 30_000);
      stats.connections++;
      const perConnection = 1 + Math.floor(Math.random() * 5);
      for (let i = 0; i < perConnection && !stop; i++) {
        const r = Math.random();
        const request = namespaceRequest(
          `soak-${(id * 7 + Math.floor(Math.random() * names)) % 1000}`,
          {
            ipc: r < 0.7,
            pid: r > 0.2,
            uidMap: r < 0.3 ? MAPS[Math.floor(Math.random() * MAPS.length)] : undefined,
            lease: Math.random() < 0.5,
          },
        );
        try {
          const ns = c.request(request);
          stats.requests++;
          // Hold the namespaces (and lease) a moment, as a spawner would.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          closeNamespaces(ns);
        } catch (e) {
          if (!(e instanceof ServerError)) throw e;
          stats.errors++;
        }
      }
    } catch (e) {
      stats.failures++;
      console.error(`client ${id}: ${e}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      c?.close();
    }
    if (performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      self.postMessage({ ...stats });
    }
  }
  self.postMessage({ ...stats, done: true });
}
