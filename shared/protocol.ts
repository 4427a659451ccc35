// The accessory wire protocol (spec/accessory-protocol.md): one datagram is
// DatagramHeader { u32 magic; u32 crc } followed by packets
// { u16 size; u16 command } + payload + zero padding to a multiple of 4.
// Integers are in host byte order; the CRC covers everything after the header.
// Pure code: used by the daemon, the client library and the tests.
import { crc32 } from "./crc32.ts";

export const MAGIC = 0x63046173;
export const DATAGRAM_HEADER_SIZE = 8;
export const PACKET_HEADER_SIZE = 4;
export const MAX_PAYLOAD = 0xffff;

export const RequestCommand = {
  NOP: 0,
  NAME: 1,
  IPC_NAMESPACE: 2,
  PID_NAMESPACE: 3,
  USER_NAMESPACE: 4,
  LEASE_PIPE: 5,
} as const;

export const ResponseCommand = {
  ERROR: 0,
  NAMESPACE_HANDLES: 1,
  LEASE_PIPE: 2,
} as const;

// The CLONE_* values that tag namespace fds in NAMESPACE_HANDLES (the same
// numbers as in ffi/namespace.ts; repeated so this module stays pure).
export const NamespaceFlag = {
  IPC: 0x08000000,
  PID: 0x20000000,
  USER: 0x10000000,
} as const;

const REQUEST_NAMES: Record<number, string> = {
  1: "NAME",
  2: "IPC_NAMESPACE",
  3: "PID_NAMESPACE",
  4: "USER_NAMESPACE",
  5: "LEASE_PIPE",
};

// "Host byte order": DataView wants an explicit endianness, so ask the host.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A datagram that breaks a rule of the protocol; the message says which. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

export interface UserNamespaceMaps {
  /** uid_map contents; empty = do not write uid_map. */
  uidMap: Uint8Array;
  /** gid_map contents; empty = do not write gid_map. */
  gidMap: Uint8Array;
}

export interface Request {
  name: string;
  ipc: boolean;
  pid: boolean;
  /** Present when USER_NAMESPACE was requested. */
  user: UserNamespaceMaps | null;
  lease: boolean;
}

/** What a datagram from a client asks for; null = only NOP (no response). */
export type DecodedRequest = Request | null;

const align4 = (n: number) => (n + 3) & ~3;

interface Packet {
  command: number;
  payload: Uint8Array;
  offset: number;
}

/** Checks the header and CRC and splits the packets, or throws ProtocolError. */
function splitPackets(datagram: Uint8Array): Packet[] {
  if (datagram.length < DATAGRAM_HEADER_SIZE) {
    throw new ProtocolError(`datagram too short (${datagram.length} bytes, header needs 8)`);
  }
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const magic = view.getUint32(0, LITTLE_ENDIAN);
  if (magic !== MAGIC) {
    throw new ProtocolError(`wrong magic 0x${hex(magic)} (expected 0x${hex(MAGIC)})`);
  }
  const crc = view.getUint32(4, LITTLE_ENDIAN);
  const actual = crc32(datagram, DATAGRAM_HEADER_SIZE);
  if (crc !== actual) {
    throw new ProtocolError(
      `CRC mismatch: header says 0x${hex(crc)}, payload has 0x${hex(actual)}`,
    );
  }
  const packets: Packet[] = [];
  for (let offset = DATAGRAM_HEADER_SIZE; offset < datagram.length;) {
    if (offset + PACKET_HEADER_SIZE > datagram.length) {
      throw new ProtocolError(
        `truncated packet header at offset ${offset} (${datagram.length - offset} of 4 bytes)`,
      );
    }
    const size = view.getUint16(offset, LITTLE_ENDIAN);
    const command = view.getUint16(offset + 2, LITTLE_ENDIAN);
    const start = offset + PACKET_HEADER_SIZE;
    const end = start + align4(size);
    if (end > datagram.length) {
      throw new ProtocolError(
        `packet at offset ${offset} (command ${command}, size ${size}) runs past the end of the ${datagram.length}-byte datagram`,
      );
    }
    packets.push({ command, payload: datagram.subarray(start, start + size), offset });
    offset = end;
  }
  return packets;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * Decodes a request datagram. Returns null for a datagram without any packet
 * other than NOP or unknown commands (no response is due); throws
 * ProtocolError for every rejection rule of the spec, including a request
 * that asks for something but has no NAME.
 */
export function decodeRequest(datagram: Uint8Array): DecodedRequest {
  let name: string | null = null;
  let ipc = false;
  let pid = false;
  let user: UserNamespaceMaps | null = null;
  let lease = false;
  let seen = 0;
  for (const { command, payload, offset } of splitPackets(datagram)) {
    const label = REQUEST_NAMES[command];
    if (label === undefined) continue; // NOP and unknown commands
    const bit = 1 << command;
    if (seen & bit) throw new ProtocolError(`${label} appears twice (offset ${offset})`);
    seen |= bit;
    switch (command) {
      case RequestCommand.NAME:
        name = decodeName(payload);
        break;
      case RequestCommand.USER_NAMESPACE: {
        const nul = payload.indexOf(0);
        user = nul < 0
          ? { uidMap: payload.slice(), gidMap: new Uint8Array(0) }
          : { uidMap: payload.slice(0, nul), gidMap: payload.slice(nul + 1) };
        break;
      }
      default:
        if (payload.length !== 0) {
          throw new ProtocolError(`${label} payload must be empty, has ${payload.length} bytes`);
        }
        if (command === RequestCommand.IPC_NAMESPACE) ipc = true;
        else if (command === RequestCommand.PID_NAMESPACE) pid = true;
        else lease = true;
    }
  }
  if (seen === 0) return null;
  if (name === null) throw new ProtocolError("request without NAME");
  return { name, ipc, pid, user, lease };
}

function decodeName(payload: Uint8Array): string {
  if (payload.length === 0) throw new ProtocolError("NAME is empty");
  let name = "";
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (b < 0x20 || b >= 0x80) {
      throw new ProtocolError(
        `NAME has byte 0x${b.toString(16).padStart(2, "0")} at position ${i} (allowed: 0x20..0x7f)`,
      );
    }
    name += String.fromCharCode(b);
  }
  return name;
}

/** Builds a datagram from packets: header, payloads with padding, CRC. */
export class DatagramWriter {
  #parts: { command: number; payload: Uint8Array }[] = [];
  #size = DATAGRAM_HEADER_SIZE;

  packet(command: number, payload: Uint8Array = new Uint8Array(0)): this {
    if (payload.length > MAX_PAYLOAD) {
      throw new RangeError(`packet payload too large (${payload.length} > ${MAX_PAYLOAD} bytes)`);
    }
    this.#parts.push({ command, payload });
    this.#size += PACKET_HEADER_SIZE + align4(payload.length);
    return this;
  }

  finish(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#size);
    const view = new DataView(out.buffer);
    let offset = DATAGRAM_HEADER_SIZE;
    for (const { command, payload } of this.#parts) {
      view.setUint16(offset, payload.length, LITTLE_ENDIAN);
      view.setUint16(offset + 2, command, LITTLE_ENDIAN);
      out.set(payload, offset + PACKET_HEADER_SIZE);
      offset += PACKET_HEADER_SIZE + align4(payload.length);
    }
    view.setUint32(0, MAGIC, LITTLE_ENDIAN);
    view.setUint32(4, crc32(out, DATAGRAM_HEADER_SIZE), LITTLE_ENDIAN);
    return out;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a request; the name is checked like the daemon checks it. */
export function encodeRequest(request: Request): Uint8Array<ArrayBuffer> {
  const name = encoder.encode(request.name);
  decodeName(name);
  const w = new DatagramWriter().packet(RequestCommand.NAME, name);
  if (request.ipc) w.packet(RequestCommand.IPC_NAMESPACE);
  if (request.pid) w.packet(RequestCommand.PID_NAMESPACE);
  if (request.user) {
    const { uidMap, gidMap } = request.user;
    if (uidMap.includes(0)) throw new RangeError("uid_map must not contain a NUL byte");
    const payload = new Uint8Array(uidMap.length + 1 + gidMap.length);
    payload.set(uidMap);
    payload.set(gidMap, uidMap.length + 1);
    // Nothing to separate: an empty payload is a user namespace without maps.
    w.packet(
      RequestCommand.USER_NAMESPACE,
      payload.length === 1 ? payload.subarray(0, 0) : payload,
    );
  }
  if (request.lease) w.packet(RequestCommand.LEASE_PIPE);
  return w.finish();
}

/** What a success response carries, in fd order. */
export interface HandlesResponse {
  kind: "handles";
  /** One CLONE_* flag per namespace fd, in fd order. */
  namespaces: number[];
  lease: boolean;
}

export interface ErrorResponse {
  kind: "error";
  message: string;
}

export type Response = HandlesResponse | ErrorResponse;

/** The flags of a success response for a request, in the mandated fd order. */
export function namespaceFlags(request: Pick<Request, "ipc" | "pid" | "user">): number[] {
  const flags: number[] = [];
  if (request.ipc) flags.push(NamespaceFlag.IPC);
  if (request.pid) flags.push(NamespaceFlag.PID);
  if (request.user) flags.push(NamespaceFlag.USER);
  return flags;
}

export function encodeHandlesResponse(namespaces: readonly number[], lease: boolean) {
  const w = new DatagramWriter();
  if (namespaces.length > 0) {
    const payload = new Uint8Array(4 * namespaces.length);
    const view = new DataView(payload.buffer);
    namespaces.forEach((flag, i) => view.setUint32(4 * i, flag, LITTLE_ENDIAN));
    w.packet(ResponseCommand.NAMESPACE_HANDLES, payload);
  }
  if (lease) w.packet(ResponseCommand.LEASE_PIPE);
  return w.finish();
}

/** An ERROR response; an over-long message is cut to fit one packet. */
export function encodeErrorResponse(message: string): Uint8Array<ArrayBuffer> {
  let bytes = encoder.encode(message);
  if (bytes.length > MAX_PAYLOAD) bytes = bytes.subarray(0, MAX_PAYLOAD);
  return new DatagramWriter().packet(ResponseCommand.ERROR, bytes).finish();
}

/**
 * Decodes a response datagram (magic, CRC, packet structure) or throws
 * ProtocolError. Checking fds against the request is the client's job.
 */
export function decodeResponse(datagram: Uint8Array): Response {
  let namespaces: number[] | null = null;
  let lease = false;
  for (const { command, payload, offset } of splitPackets(datagram)) {
    switch (command) {
      case ResponseCommand.ERROR:
        return { kind: "error", message: decoder.decode(payload) };
      case ResponseCommand.NAMESPACE_HANDLES: {
        if (namespaces !== null) {
          throw new ProtocolError(`NAMESPACE_HANDLES appears twice (offset ${offset})`);
        }
        if (payload.length % 4 !== 0) {
          throw new ProtocolError(
            `NAMESPACE_HANDLES payload of ${payload.length} bytes is not a u32 array`,
          );
        }
        const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        namespaces = [];
        for (let i = 0; i < payload.length; i += 4) {
          namespaces.push(view.getUint32(i, LITTLE_ENDIAN));
        }
        break;
      }
      case ResponseCommand.LEASE_PIPE:
        if (lease) throw new ProtocolError(`LEASE_PIPE appears twice (offset ${offset})`);
        if (payload.length !== 0) {
          throw new ProtocolError(`LEASE_PIPE payload must be empty, has ${payload.length} bytes`);
        }
        lease = true;
        break;
      default:
        break; // unknown commands are ignored, as the daemon ignores them in requests
    }
  }
  // No packet at all is the success answer to a request that asked for nothing.
  return { kind: "handles", namespaces: namespaces ?? [], lease };
}
