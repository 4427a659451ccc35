// Codec unit tests: no root, no sockets.
import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { crc32 } from "../../shared/crc32.ts";
import {
  DatagramWriter,
  decodeRequest,
  decodeResponse,
  encodeErrorResponse,
  encodeHandlesResponse,
  encodeRequest,
  MAGIC,
  NamespaceFlag,
  namespaceFlags,
  ProtocolError,
  type Request,
  RequestCommand,
  ResponseCommand,
} from "../../shared/protocol.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32 matches the CRC-32/ISO-HDLC check values", () => {
  assertEquals(crc32(text("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array(0)), 0);
  assertEquals(crc32(text("The quick brown fox jumps over the lazy dog")), 0x414fa339);
  assertEquals(crc32(new Uint8Array(32)), 0x190a55ad);
  assertEquals(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
  // A sub-range gives the CRC of just those bytes.
  assertEquals(crc32(text("xx123456789yy"), 2, 11), 0xcbf43926);
});

Deno.test("a request has the byte layout of the spec", () => {
  const bytes = encodeRequest({ name: "foo", ipc: true, pid: true, user: null, lease: true });
  const v = new DataView(bytes.buffer);
  assertEquals(v.getUint32(0, true), MAGIC);
  assertEquals(v.getUint32(4, true), crc32(bytes, 8));
  // NAME (size 3, padded to 4), IPC, PID, LEASE_PIPE with empty payloads.
  assertEquals([...bytes.subarray(8)], [
    3,
    0,
    1,
    0,
    0x66,
    0x6f,
    0x6f,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    5,
    0,
  ]); // deno-fmt-ignore
  assertEquals(bytes.length, 28);
});

Deno.test("a success response has the byte layout of the spec", () => {
  const bytes = encodeHandlesResponse([NamespaceFlag.IPC, NamespaceFlag.PID], true);
  const v = new DataView(bytes.buffer);
  assertEquals(v.getUint32(0, true), MAGIC);
  assertEquals(v.getUint32(4, true), crc32(bytes, 8));
  assertEquals(v.getUint16(8, true), 8);
  assertEquals(v.getUint16(10, true), ResponseCommand.NAMESPACE_HANDLES);
  assertEquals(v.getUint32(12, true), 0x08000000);
  assertEquals(v.getUint32(16, true), 0x20000000);
  assertEquals(v.getUint16(20, true), 0);
  assertEquals(v.getUint16(22, true), ResponseCommand.LEASE_PIPE);
  assertEquals(bytes.length, 24);
});

Deno.test("fd order is IPC, PID, USER whatever the request order", () => {
  assertEquals(
    namespaceFlags({ user: { uidMap: text(""), gidMap: text("") }, pid: true, ipc: true }),
    [0x08000000, 0x20000000, 0x10000000],
  );
  assertEquals(namespaceFlags({ ipc: false, pid: true, user: null }), [0x20000000]);
});

const requestArbitrary = fc.record({
  name: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7f }).map(String.fromCharCode) })
    .filter((s) => s.length > 0 && s.length < 300),
  ipc: fc.boolean(),
  pid: fc.boolean(),
  user: fc.option(
    fc.record({
      uidMap: fc.uint8Array({ maxLength: 40 }).map((a) => a.map((b) => b || 1)),
      gidMap: fc.uint8Array({ maxLength: 40 }),
    }),
    { nil: null },
  ),
  lease: fc.boolean(),
}) as fc.Arbitrary<Request>;

Deno.test("requests survive an encode/decode round trip", () => {
  fc.assert(fc.property(requestArbitrary, (request) => {
    const decoded = decodeRequest(encodeRequest(request));
    // fast-check records have a null prototype; compare plain copies.
    assertEquals(decoded, { ...request, user: request.user && { ...request.user } });
  }));
});

Deno.test("responses survive an encode/decode round trip", () => {
  fc.assert(fc.property(
    fc.subarray([NamespaceFlag.IPC, NamespaceFlag.PID, NamespaceFlag.USER]),
    fc.boolean(),
    (namespaces, lease) => {
      assertEquals(decodeResponse(encodeHandlesResponse(namespaces, lease)), {
        kind: "handles",
        namespaces,
        lease,
      });
    },
  ));
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (message) => {
    assertEquals(decodeResponse(encodeErrorResponse(message)), { kind: "error", message });
  }));
});

Deno.test("user namespace payload: maps split at the NUL; either part may be empty", () => {
  const payload = (s: string) =>
    new DatagramWriter().packet(RequestCommand.NAME, text("n"))
      .packet(RequestCommand.USER_NAMESPACE, text(s)).finish();
  const user = (s: string) => {
    const r = decodeRequest(payload(s));
    assert(r?.user);
    return [new TextDecoder().decode(r.user.uidMap), new TextDecoder().decode(r.user.gidMap)];
  };
  assertEquals(user("0 1000 1\n\x000 100 1\n"), ["0 1000 1\n", "0 100 1\n"]);
  assertEquals(user("\x000 100 1\n"), ["", "0 100 1\n"]);
  assertEquals(user("0 1000 1\n\x00"), ["0 1000 1\n", ""]);
  assertEquals(user("0 1000 1\n"), ["0 1000 1\n", ""]);
  assertEquals(user(""), ["", ""]);
});

Deno.test("only NOP and unknown commands decode to null (no response due)", () => {
  assertEquals(decodeRequest(new DatagramWriter().finish()), null);
  assertEquals(decodeRequest(new DatagramWriter().packet(RequestCommand.NOP).finish()), null);
  assertEquals(
    decodeRequest(
      new DatagramWriter().packet(RequestCommand.NOP, text("junk!")).packet(99).packet(0).finish(),
    ),
    null,
  );
});

Deno.test("unknown commands and NOP payloads are ignored in a request", () => {
  const bytes = new DatagramWriter().packet(77, text("whatever")).packet(RequestCommand.NOP)
    .packet(RequestCommand.NAME, text("x")).packet(RequestCommand.NOP, text("abc"))
    .packet(RequestCommand.PID_NAMESPACE).finish();
  assertEquals(decodeRequest(bytes), {
    name: "x",
    ipc: false,
    pid: true,
    user: null,
    lease: false,
  });
});

/** A valid request whose bytes `mutate` changes; the CRC is fixed up unless told. */
function malformed(
  mutate: (bytes: Uint8Array, view: DataView) => Uint8Array | void,
  fixCrc = true,
): Uint8Array {
  let bytes: Uint8Array = encodeRequest({
    name: "abc",
    ipc: true,
    pid: false,
    user: null,
    lease: false,
  });
  bytes = mutate(bytes, new DataView(bytes.buffer)) ?? bytes;
  if (fixCrc && bytes.length >= 8) {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(4, crc32(bytes, 8), true);
  }
  return bytes;
}

function rejects(datagram: Uint8Array, pattern: RegExp) {
  const e = assertThrows(() => decodeRequest(datagram), pattern);
  assert(e instanceof ProtocolError, `${e} is not a ProtocolError`);
}

Deno.test("every malformed request of the spec is rejected with a precise reason", () => {
  // Shorter than the datagram header.
  rejects(new Uint8Array(0), /too short \(0 bytes/);
  rejects(new Uint8Array(7), /too short \(7 bytes/);
  // Wrong magic.
  rejects(malformed((_, v) => v.setUint32(0, 0x63046174, true)), /wrong magic 0x63046174/);
  // CRC mismatch (one payload bit flipped, CRC left alone).
  rejects(malformed((b) => void (b[12] ^= 1), false), /CRC mismatch/);
  rejects(malformed((_, v) => v.setUint32(4, 0, true), false), /CRC mismatch/);
  // Truncated packet header: 2 stray bytes after the last packet.
  rejects(
    malformed((b) => {
      const out = new Uint8Array(b.length + 2);
      out.set(b);
      return out;
    }),
    /truncated packet header at offset 20 \(2 of 4 bytes\)/,
  );
  // Payload runs past the end.
  rejects(malformed((_, v) => v.setUint16(8, 9, true)), /command 1, size 9\) runs past the end/);
  // Payload fits, but its padding does not.
  rejects(malformed((b) => b.subarray(0, 15)), /size 3\) runs past the end/);
  // Empty NAME.
  rejects(
    new DatagramWriter().packet(RequestCommand.NAME).packet(RequestCommand.IPC_NAMESPACE).finish(),
    /NAME is empty/,
  );
  // NAME bytes outside 0x20..0x7f.
  const badBytes: [number, string][] = [[0x1f, "1f"], [0x80, "80"], [0x00, "00"], [0x0a, "0a"], [
    0xff,
    "ff",
  ]];
  for (const [bad, hex] of badBytes) {
    rejects(
      new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0x61, bad])).finish(),
      new RegExp(`NAME has byte 0x${hex} at position 1`),
    );
  }
  // A command twice.
  for (const command of [1, 2, 3, 4, 5]) {
    const w = new DatagramWriter().packet(RequestCommand.NAME, text("a"));
    if (command !== 1) w.packet(command);
    rejects(w.packet(command, command === 1 ? text("a") : undefined).finish(), /appears twice/);
  }
  // A must-be-empty payload that is not empty.
  for (const [command, label] of [[2, "IPC_NAMESPACE"], [3, "PID_NAMESPACE"], [5, "LEASE_PIPE"]]) {
    rejects(
      new DatagramWriter().packet(RequestCommand.NAME, text("a"))
        .packet(command as number, text("x")).finish(),
      new RegExp(`${label} payload must be empty, has 1 bytes`),
    );
  }
  // No NAME although something was asked for.
  rejects(new DatagramWriter().packet(RequestCommand.PID_NAMESPACE).finish(), /without NAME/);
  rejects(new DatagramWriter().packet(RequestCommand.LEASE_PIPE).finish(), /without NAME/);
});

Deno.test("the boundary NAME bytes 0x20 and 0x7f are accepted", () => {
  const r = decodeRequest(
    new DatagramWriter().packet(RequestCommand.NAME, new Uint8Array([0x20, 0x7f])).finish(),
  );
  assertEquals(r?.name, " \x7f");
});

Deno.test("random corruption never crashes the decoder: it decodes or throws ProtocolError", () => {
  fc.assert(fc.property(requestArbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, i, x) => {
    const bytes = encodeRequest(r);
    bytes[i % bytes.length] ^= x;
    try {
      decodeRequest(bytes);
    } catch (e) {
      assert(e instanceof ProtocolError, String(e));
    }
  }));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    try {
      decodeRequest(bytes);
      decodeResponse(bytes);
    } catch (e) {
      assert(e instanceof ProtocolError, String(e));
    }
  }));
});

Deno.test("malformed responses are rejected", () => {
  assertThrows(() => decodeResponse(new Uint8Array(4)), /too short/);
  const ok = encodeHandlesResponse([NamespaceFlag.IPC], false);
  ok[12] ^= 1;
  assertThrows(() => decodeResponse(ok), /CRC mismatch/);
  // An empty success response answers a request for nothing.
  assertEquals(decodeResponse(new DatagramWriter().finish()), {
    kind: "handles",
    namespaces: [],
    lease: false,
  });
  assertThrows(
    () =>
      decodeResponse(
        new DatagramWriter().packet(ResponseCommand.NAMESPACE_HANDLES, new Uint8Array(6)).finish(),
      ),
    /not a u32 array/,
  );
  assertThrows(
    () =>
      decodeResponse(
        new DatagramWriter().packet(ResponseCommand.LEASE_PIPE)
          .packet(ResponseCommand.LEASE_PIPE).finish(),
      ),
    /LEASE_PIPE appears twice/,
  );
});

Deno.test("encodeRequest refuses what the daemon would reject", () => {
  assertThrows(
    () => encodeRequest({ name: "", ipc: true, pid: false, user: null, lease: false }),
    /NAME is empty/,
  );
  assertThrows(
    () => encodeRequest({ name: "a\nb", ipc: true, pid: false, user: null, lease: false }),
    /byte 0x0a/,
  );
  assertThrows(
    () => new DatagramWriter().packet(RequestCommand.NOP, new Uint8Array(0x10000)),
    /too large/,
  );
});

Deno.test("an over-long error message is cut to one packet", () => {
  const r = decodeResponse(encodeErrorResponse("x".repeat(70000)));
  assertEquals(r.kind === "error" && r.message.length, 0xffff);
});
