// Client library checks on responses, with pipes standing in for namespace fds;
// the uid the daemon runs as (issue 14: a real daemon run by nobody).
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  checkResponse,
  closeNamespaces,
  makeNamespaces,
  namespaceRequest,
  ServerError,
  UntrustedServerError,
} from "../../shared/client.ts";
import { CLIENT, Daemon, DENO } from "./harness.ts";
import {
  encodeErrorResponse,
  encodeHandlesResponse,
  NamespaceFlag,
  ProtocolError,
} from "../../shared/protocol.ts";
import { closeQuietly, pipe } from "../../ffi/fd.ts";

const { IPC, PID, USER } = NamespaceFlag;

function isOpen(fd: number): boolean {
  try {
    Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

/** n fresh fds (read ends of pipes; the write ends are closed at once). */
function fds(n: number): number[] {
  return Array.from({ length: n }, () => {
    const [r, w] = pipe();
    closeQuietly(w);
    return r;
  });
}

Deno.test("a complete response maps fds to namespaces in IPC, PID, USER, lease order", () => {
  const request = namespaceRequest("x", { pid: true, ipc: true, uidMap: "0 0 1", lease: true });
  const got = fds(4);
  const ns = checkResponse(request, encodeHandlesResponse([IPC, PID, USER], true), got);
  assertEquals(ns, { ipc: got[0], pid: got[1], user: got[2], lease: got[3] });
  got.forEach(closeQuietly);
});

Deno.test("partial or mismatched responses are refused and every received fd is closed", () => {
  const request = namespaceRequest("x", { ipc: true, pid: true, lease: true });
  const cases: [Uint8Array, number, RegExp][] = [
    [encodeHandlesResponse([IPC], true), 2, /do not match the request/], // PID missing
    [encodeHandlesResponse([PID, IPC], true), 3, /do not match the request/], // wrong order
    [encodeHandlesResponse([IPC, PID, USER], true), 4, /do not match the request/], // extra
    [encodeHandlesResponse([IPC, PID], false), 2, /lacks a lease pipe/],
    [encodeHandlesResponse([IPC, PID], true), 2, /carries 2 fds, expected 3/],
    [encodeHandlesResponse([IPC, PID], true), 4, /carries 4 fds, expected 3/],
  ];
  for (const [datagram, count, pattern] of cases) {
    const got = fds(count);
    const e = assertThrows(() => checkResponse(request, datagram, got), pattern);
    assert(e instanceof ProtocolError, String(e));
    for (const fd of got) assert(!isOpen(fd), `fd ${fd} left open after: ${e.message}`);
  }
});

Deno.test("an ERROR response throws ServerError with the server's message", () => {
  const got = fds(1); // an ERROR carries no fds; stray ones are closed anyway
  const e = assertThrows(
    () => checkResponse(namespaceRequest("x", { ipc: true }), encodeErrorResponse("nope"), got),
    /^nope$/,
  );
  assert(e instanceof ServerError);
  assert(!isOpen(got[0]));
});

Deno.test("a bad CRC is refused", () => {
  const datagram = encodeHandlesResponse([IPC], false);
  datagram[12] ^= 0xff;
  const got = fds(1);
  assertThrows(() => checkResponse(namespaceRequest("x", { ipc: true }), datagram, got), /CRC/);
  assert(!isOpen(got[0]));
});

/** A real daemon, run by nobody: a stand-in for someone squatting on the address. */
async function withNobodyDaemon(fn: (d: Daemon) => Promise<void>) {
  const home = Deno.makeTempDirSync({ prefix: "nobody-daemon-" });
  Deno.chownSync(home, 65534, 65534);
  const d = await Daemon.start(
    [],
    { DENO_DIR: home, HOME: home, RUNTIME_DIRECTORY: home },
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
  );
  try {
    await fn(d);
  } finally {
    await d.stop();
    Deno.removeSync(home, { recursive: true });
  }
}

Deno.test("the client trusts only a daemon of uid 0 unless told otherwise (issue 14)", async () => {
  await withNobodyDaemon(async (d) => {
    let error: unknown;
    try {
      closeNamespaces(makeNamespaces("squatted", { socket: d.address, ipc: true }));
    } catch (e) {
      error = e;
    }
    assert(error instanceof UntrustedServerError, `not refused: ${error}`);
    assertMatch(error.message, /is served by uid 65534 \(pid \d+\), not by uid 0: refusing/);
    // Allowed for tests: a NAME-only request needs no privilege.
    assertEquals(makeNamespaces("squatted", { socket: d.address, serverUids: [0, 65534] }), {});

    const cli = async (...extra: string[]) => {
      const out = await new Deno.Command(DENO, {
        args: ["run", "-A", CLIENT, "--socket", d.address, ...extra, "squatted", "true"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const refused = await cli();
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /served by uid 65534 .*refusing to use it/);
    // Trusted, the request reaches the unprivileged daemon, which cannot make namespaces.
    const trusted = await cli("--trust-uid", "65534");
    assertEquals(trusted.code, 1);
    assertMatch(trusted.stderr, /^Server error: /);
  });
});
