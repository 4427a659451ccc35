// A client for tests that run it as another uid (setpriv): sends COUNT
// requests for NAME (IPC namespace) on one connection, prints one JSON line
// per response: {"fds": N} or {"error": "message"}.
import {
  AccessoryConnection,
  closeNamespaces,
  namespaceRequest,
  ServerError,
} from "../../shared/client.ts";

const [address, name, count = "1"] = Deno.args;
const connection = new AccessoryConnection(address, 10_000);
const request = namespaceRequest(name, { ipc: true });
for (let i = 0; i < Number(count); i++) {
  try {
    const ns = connection.request(request);
    console.log(JSON.stringify({ fds: ns.ipc === undefined ? 0 : 1 }));
    closeNamespaces(ns);
  } catch (e) {
    if (!(e instanceof ServerError)) throw e;
    console.log(JSON.stringify({ error: e.message }));
  }
}
connection.close();
