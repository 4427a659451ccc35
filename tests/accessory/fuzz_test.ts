// Fuzzing (issue 7): 100,000+ random and mutated datagrams through the codec,
// 10,000 through a running daemon, which must answer each as the codec
// predicts (or close the connection) and end with the fds and processes it
// started with.
import { DEFAULT_POOL } from "../../accessory/namespace_pool.ts";
import { FACTORY_COMM } from "../../accessory/helper_programs.ts";
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { AccessoryConnection, closeNamespaces, ServerError } from "../../shared/client.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeErrorResponse,
  encodeHandlesResponse,
  encodeRequest,
  ProtocolError,
  type Request,
} from "../../shared/protocol.ts";
import { closeQuietly } from "../../ffi/fd.ts";
import { MessageReceiver, MSG_NOSIGNAL, sendMessage } from "../../ffi/socket_message.ts";
import { datagramArbitrary, fixCrc, requestArbitrary } from "./fuzz_datagrams.ts";
import { childrenOf, Daemon, waitFor } from "./harness.ts";

const CODEC_RUNS = 100_000;
const DAEMON_RUNS = 10_000;

/** ProtocolError or a decoded request; anything else thrown fails the property. */
function decode(datagram: Uint8Array): Request | null | ProtocolError {
  try {
    return decodeRequest(datagram);
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

Deno.test(`codec: ${CODEC_RUNS} random and mutated request datagrams decode or throw ProtocolError`, () => {
  const outcomes = { request: 0, nop: 0, rejected: 0 };
  fc.assert(
    fc.property(datagramArbitrary(), ({ datagram }) => {
      const result = decode(datagram);
      if (result instanceof ProtocolError) outcomes.rejected++;
      else if (result === null) outcomes.nop++;
      else {
        outcomes.request++;
        // Whatever decodes is a request the codec can send again unchanged.
        assertEquals(decodeRequest(encodeRequest(result)), result);
      }
    }),
    { numRuns: CODEC_RUNS, seed: 7 },
  );
  console.log(`codec fuzz: ${JSON.stringify(outcomes)}`);
  assert(outcomes.request > 1000 && outcomes.rejected > 1000, JSON.stringify(outcomes));
});

Deno.test("codec: valid requests round-trip exactly; mutated responses decode or throw ProtocolError", () => {
  fc.assert(
    fc.property(requestArbitrary(), (r) => {
      const decoded = decodeRequest(encodeRequest(r))!;
      assertEquals({ ...decoded, user: decoded.user && { ...decoded.user } }, {
        ...r,
        user: r.user && { ...r.user },
      });
    }),
    { numRuns: 10_000, seed: 8 },
  );
  const response = fc.oneof(
    fc.constant(encodeErrorResponse("Permission denied")),
    fc.tuple(fc.subarray([0x08000000, 0x20000000, 0x10000000]), fc.boolean())
      .map(([kinds, lease]) => encodeHandlesResponse(kinds, lease)),
  );
  fc.assert(
    fc.property(
      response,
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.boolean(),
      (d, i, x, crc) => {
        const c = d.slice();
        c[i % c.length] ^= x;
        try {
          decodeResponse(crc ? fixCrc(c) : c);
        } catch (e) {
          assert(e instanceof ProtocolError, String(e));
        }
      },
    ),
    { numRuns: 20_000, seed: 9 },
  );
});

function fdKinds(pid: number): string {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
      const info = target.includes("pidfd")
        ? "=" + /Pid:\s*(-?\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/fdinfo/${e.name}`))?.[1]
        : "";
      return `${e.name}:${target}${info}`;
    } catch {
      return `${e.name}:gone`;
    }
  }).join(" ");
}

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

Deno.test(`daemon: ${DAEMON_RUNS} fuzzed datagrams; answered as predicted or closed; no fd or process leaked`, async () => {
  const names = ["fz-a", "fz-b", "fz-c", "fz-d"];
  const cases = fc.sample(datagramArbitrary(names), { numRuns: DAEMON_RUNS, seed: 11 });
  // A short TTL: at the end every name expires and the daemon is back at its start.
  const d = await Daemon.start(["--namespace-ttl", "1"]);
  const stats = { answered: 0, errors: 0, closed: 0, silent: 0 };
  let connection: AccessoryConnection | null = null;
  try {
    // Compare settled states: the factory and a full pool.
    const poolFull = () => {
      const children = [...childrenOf(d.pid)];
      const factory = children.find(([, comm]) => comm === FACTORY_COMM)?.[0];
      return children.length === 1 + DEFAULT_POOL.inits && factory !== undefined &&
        childrenOf(factory).size === DEFAULT_POOL.userHelpers;
    };
    await waitFor(poolFull, 10_000);
    await waitFor(() => false, 200);
    const fdsBefore = fdCount(d.pid);
    const childrenBefore = childrenOf(d.pid).size;
    const buf = new Uint8Array(0x10000);
    const receiver = new MessageReceiver(8);
    for (const [i, { label, datagram }] of cases.entries()) {
      // Let the harness drain the daemon's stderr pipe now and then.
      if (i % 16 === 0) await new Promise((r) => setTimeout(r, 0));
      connection ??= new AccessoryConnection(d.address, 15_000);
      const expected = decode(datagram);
      sendMessage(connection.fd, datagram, [], MSG_NOSIGNAL);
      const what = `case ${i} (${label})`;
      if (expected === null) {
        stats.silent++; // no response due: the next one must still line up
      } else if (expected instanceof ProtocolError) {
        const t0 = performance.now();
        const m = receiver.receive(connection.fd, buf, 0);
        assert(
          m !== null,
          `${what}: no EOF after a malformed datagram (${performance.now() - t0} ms) ${datagram}`,
        );
        for (const fd of m.fds) closeQuietly(fd);
        assertEquals(m.length, 0, `${what}: answered a malformed datagram`);
        connection.close();
        connection = null;
        stats.closed++;
      } else {
        try {
          closeNamespaces(connection.receive(expected)); // checks kinds and order
          stats.answered++;
        } catch (e) {
          if (!(e instanceof ServerError)) throw new Error(`${what}: ${e}`);
          stats.errors++;
        }
      }
    }
    connection?.close();
    connection = null;
    console.log(`daemon fuzz: ${JSON.stringify(stats)}`);
    assert(stats.answered > 1000 && stats.closed > 1000, JSON.stringify(stats));
    // Names expire 1 s after their last use; killed inits get reaped.
    const settled = await waitFor(
      () => fdCount(d.pid) === fdsBefore && childrenOf(d.pid).size === childrenBefore,
      10_000,
    );
    assert(
      settled,
      `leak: fds ${fdsBefore} -> ${fdCount(d.pid)} (${
        fdKinds(d.pid)
      }), children ${childrenBefore} -> ${childrenOf(d.pid).size}`,
    );
  } catch (e) {
    const wchan = Deno.readTextFileSync(`/proc/${d.pid}/wchan`);
    const { log } = await d.stop();
    throw new Error(`${e}\nwchan ${wchan}\nlog tail:\n${log.slice(-3000)}`);
  } finally {
    connection?.close();
    const { code, log } = await d.stop();
    assertEquals(code, 0, `the daemon survived; log tail:\n${log.slice(-2000)}`);
  }
});
