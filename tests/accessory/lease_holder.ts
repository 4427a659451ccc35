// For fault tests: asks for NAME's IPC and PID namespaces with a lease, prints
// "held", and holds them until killed.
import { makeNamespaces } from "../../shared/client.ts";

const [address, name] = Deno.args;
const ns = makeNamespaces(name, { socket: address, ipc: true, pid: true, lease: true });
console.log("held");
setInterval(() => void ns, 60_000);
