// Datagrams for fuzzing the accessory: valid requests, the same with one
// field corrupted (with or without a CRC that matches again), truncations,
// padding errors, extra packets and random bytes. Shared by the codec fuzz
// and the daemon fuzz.
import fc from "fast-check";
import { crc32 } from "../../shared/crc32.ts";
import { DatagramWriter, encodeRequest, type Request } from "../../shared/protocol.ts";

const ascii = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7f }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });

const mapText = fc.constantFrom("", "0 0 1\n", "0 1000 1\n", "0 0 1\n1 1 1\n", "0 0 4294967295\n");
const bytes = (s: string) => new TextEncoder().encode(s);

/** Valid requests; `names` bounds what a daemon has to create. */
export function requestArbitrary(names?: string[]): fc.Arbitrary<Request> {
  return fc.record({
    name: names ? fc.constantFrom(...names) : ascii(1, 40),
    ipc: fc.boolean(),
    pid: fc.boolean(),
    user: fc.option(
      fc.record({ uidMap: mapText.map(bytes), gidMap: mapText.map(bytes) }),
      { freq: 3 },
    ),
    lease: fc.boolean(),
  });
}

export function fixCrc(datagram: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  if (datagram.length >= 8) {
    new DataView(datagram.buffer, datagram.byteOffset).setUint32(4, crc32(datagram, 8), true);
  }
  return datagram;
}

type Mutation = (d: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>;

/** One corruption of an encoded request. */
const mutation: fc.Arbitrary<{ label: string; apply: Mutation }> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([i, x, crc]) => ({
    label: `xor byte ${i} with ${x}${crc ? " (CRC fixed)" : ""}`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const c = d.slice();
      c[i % c.length] ^= x;
      return crc ? fixCrc(c) : c;
    },
  })),
  fc.tuple(fc.nat(), fc.boolean()).map(([n, crc]) => ({
    label: `truncate to ${n}${crc ? " (CRC fixed)" : ""}`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const c = d.slice(0, n % (d.length + 1));
      return crc ? fixCrc(c) : c;
    },
  })),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 7 }), fc.boolean()).map(([pad, crc]) => ({
    label: `append ${pad.length} bytes${crc ? " (CRC fixed)" : ""}`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const c = new Uint8Array(d.length + pad.length);
      c.set(d);
      c.set(pad, d.length);
      return crc ? fixCrc(c) : c;
    },
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffff })).map(([i, size]) => ({
    label: `packet size field -> ${size}`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const c = d.slice();
      // Packet headers start at 8 and are 4-byte aligned: size is the first u16.
      const headers = Math.max(1, Math.floor((c.length - 8) / 4));
      const at = 8 + 4 * (i % headers);
      if (at + 2 <= c.length) new DataView(c.buffer).setUint16(at, size, true);
      return fixCrc(c);
    },
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffff })).map(([i, command]) => ({
    label: `command field -> ${command}`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const c = d.slice();
      const headers = Math.max(1, Math.floor((c.length - 8) / 4));
      const at = 8 + 4 * (i % headers) + 2;
      if (at + 2 <= c.length) new DataView(c.buffer).setUint16(at, command, true);
      return fixCrc(c);
    },
  })),
  fc.tuple(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 12 })).map((
    [command, payload],
  ) => ({
    label: `extra packet ${command} with ${payload.length} bytes`,
    apply: (d: Uint8Array<ArrayBuffer>) => {
      const extra = new DatagramWriter().packet(command, payload).finish();
      const c = new Uint8Array(d.length + extra.length - 8);
      c.set(d);
      c.set(extra.subarray(8), d.length);
      return fixCrc(c);
    },
  })),
);

export interface FuzzCase {
  label: string;
  datagram: Uint8Array<ArrayBuffer>;
}

/** Valid, mutated (about 80 %) and random datagrams. */
export function datagramArbitrary(names?: string[]): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    {
      weight: 2,
      arbitrary: requestArbitrary(names).map((r) => ({
        label: "valid",
        datagram: encodeRequest(r),
      })),
    },
    {
      weight: 8,
      arbitrary: fc.tuple(requestArbitrary(names), mutation).map(([r, m]) => ({
        label: m.label,
        datagram: m.apply(encodeRequest(r)),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => ({
        label: "random bytes",
        datagram: new Uint8Array(b),
      })),
    },
  );
}
