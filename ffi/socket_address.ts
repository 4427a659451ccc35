// struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }

export const AF_UNIX = 1;
const SUN_PATH_MAX = 108;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Builds a sockaddr_un for "@name" (abstract: sun_path[0] = 0, no trailing NUL,
 * length 2 + 1 + name) or a filesystem path (NUL-terminated).
 */
export function sockaddrUn(address: string): Uint8Array<ArrayBuffer> {
  const abstract = address.startsWith("@");
  const name = encoder.encode(abstract ? address.slice(1) : address);
  const pathLength = abstract ? name.length + 1 : name.length + 1;
  if (pathLength > SUN_PATH_MAX || (!abstract && name.length === 0)) {
    throw new RangeError(`socket address too long or empty: ${JSON.stringify(address)}`);
  }
  const buf = new Uint8Array(2 + pathLength);
  new DataView(buf.buffer).setUint16(0, AF_UNIX, true);
  buf.set(name, abstract ? 3 : 2);
  return buf;
}

/** The inverse of sockaddrUn, for addresses read back with getsockname. */
export function parseSockaddrUn(buf: Uint8Array, length: number): string {
  if (length <= 2) return "";
  if (buf[2] === 0) return "@" + decoder.decode(buf.subarray(3, length));
  const end = buf.indexOf(0, 2);
  return decoder.decode(buf.subarray(2, end < 0 || end > length ? length : end));
}
