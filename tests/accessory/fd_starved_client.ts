// For tests: a client whose fd table is nearly full when the response comes,
// so the kernel cannot install the passed fds (MSG_CTRUNC). Prints the
// outcome as one JSON line.
import { AccessoryConnection, namespaceRequest } from "../../shared/client.ts";
import { getrlimit, RLIMIT_NOFILE, setrlimit } from "../../ffi/process.ts";

const [address] = Deno.args;
const request = namespaceRequest("starved", { ipc: true, pid: true, lease: true });
const c = new AccessoryConnection(address, 10_000);
const open = [...Deno.readDirSync("/proc/self/fd")].length; // includes the listing's own fd
const limit = getrlimit(RLIMIT_NOFILE);
// Room for exactly one more fd: new fds take the lowest free number, which
// must be below the soft limit.
const used = new Set([...Deno.readDirSync("/proc/self/fd")].map((e) => Number(e.name)));
let free = 0;
while (used.has(free)) free++;
setrlimit(RLIMIT_NOFILE, { soft: BigInt(free + 1), hard: limit.hard });
let outcome: Record<string, unknown>;
try {
  c.request(request);
  outcome = { ok: true };
} catch (e) {
  outcome = { error: (e as Error).name, message: (e as Error).message };
}
setrlimit(RLIMIT_NOFILE, limit);
const leaked = [...Deno.readDirSync("/proc/self/fd")].length - open;
console.log(JSON.stringify({ ...outcome, leaked }));
c.close();
