// A client for tests that run it as another uid (setpriv): sends COUNT
// requests for NAME (IPC namespace) on one connection, prints one JSON line
// per response: {"fds": N} or {"error": "message"}. With a fourth argument
// "user", request i is for NAME-i and a new user namespace instead.
import {
  AccessoryConnection,
  closeNamespaces,
  namespaceRequest,
  ServerError,
} from "../../shared/client.ts";

const [address, name, count = "1", kind = "ipc"] = Deno.args;
const connection = new AccessoryConnection(address, 10_000);
for (let i = 0; i < Number(count); i++) {
  const request = kind === "user"
    ? namespaceRequest(`${name}-${i}`, { uidMap: `0 ${1000 + i} 1\n` })
    : namespaceRequest(name, { ipc: true });
  try {
    const ns = connection.request(request);
    console.log(JSON.stringify({ fds: Object.keys(ns).length }));
    closeNamespaces(ns);
  } catch (e) {
    if (!(e instanceof ServerError)) throw e;
    console.log(JSON.stringify({ error: e.message }));
  }
}
connection.close();
