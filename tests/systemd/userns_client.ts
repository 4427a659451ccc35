// Run inside the test container with the package's deno: asks the installed
// accessory for NAME's IPC namespace and a user namespace with a uid/gid map
// (writing the maps needs CAP_SETUID/CAP_SETGID), prints the namespaces'
// identities: "ipc:[…] user:[…]".
import { closeNamespaces, makeNamespaces } from "../../shared/client.ts";

const [name, map = "0 100000 65536\n"] = Deno.args;
const ns = makeNamespaces(name, { ipc: true, uidMap: map, gidMap: map });
try {
  console.log(
    [ns.ipc, ns.user].map((fd) => Deno.readLinkSync(`/proc/self/fd/${fd}`)).join(" "),
  );
} finally {
  closeNamespaces(ns);
}
