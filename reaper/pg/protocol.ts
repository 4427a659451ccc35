// PostgreSQL frontend/backend protocol 3.0: building the messages we send and
// framing/decoding the ones we receive. Pure; values stay bytes.
import { concatBytes } from "../../ffi/byte_string.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const PROTOCOL_VERSION = 196608; // 3.0
const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;

/** Growable big-endian byte writer. */
class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  #fit(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
  byte(b: number): this {
    this.#fit(1);
    this.#buf[this.#len++] = b;
    return this;
  }
  i16(v: number): this {
    this.#fit(2);
    new DataView(this.#buf.buffer).setInt16(this.#len, v);
    this.#len += 2;
    return this;
  }
  i32(v: number): this {
    this.#fit(4);
    new DataView(this.#buf.buffer).setInt32(this.#len, v);
    this.#len += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#fit(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }
  /** NUL-terminated; anything after an embedded NUL is dropped (C strings). */
  cstr(s: Uint8Array | string): this {
    let b = typeof s === "string" ? encoder.encode(s) : s;
    const nul = b.indexOf(0);
    if (nul >= 0) b = b.subarray(0, nul);
    return this.bytes(b).byte(0);
  }
  get length(): number {
    return this.#len;
  }
  patchI32(at: number, v: number): void {
    new DataView(this.#buf.buffer).setInt32(at, v);
  }
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** A typed message: type byte, length (including itself), body. */
function message(type: string, fill: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.byte(type.charCodeAt(0)).i32(0);
  fill(w);
  w.patchI32(1, w.length - 1);
  return w.finish();
}

export function startupMessage(params: Record<string, string>): Uint8Array {
  const w = new Writer();
  w.i32(0).i32(PROTOCOL_VERSION);
  for (const [k, v] of Object.entries(params)) w.cstr(k).cstr(v);
  w.byte(0);
  w.patchI32(0, w.length);
  return w.finish();
}

export function sslRequest(): Uint8Array {
  return new Writer().i32(8).i32(SSL_REQUEST_CODE).finish();
}

export function cancelRequest(pid: number, secret: number): Uint8Array {
  return new Writer().i32(16).i32(CANCEL_REQUEST_CODE).i32(pid).i32(secret).finish();
}

export const queryMessage = (sql: Uint8Array) => message("Q", (w) => w.cstr(sql));

export const passwordMessage = (password: Uint8Array) => message("p", (w) => w.cstr(password));

export const saslInitialResponse = (mechanism: string, data: Uint8Array) =>
  message("p", (w) => w.cstr(mechanism).i32(data.length).bytes(data));

export const saslResponse = (data: Uint8Array) => message("p", (w) => w.bytes(data));

export const copyFail = (reason: string) => message("f", (w) => w.cstr(reason));

export const terminateMessage = () => message("X", () => {});

/** Parse + Bind + Describe + Execute + Sync for the unnamed statement, all text. */
export function extendedQuery(sql: Uint8Array, params: readonly (Uint8Array | null)[]): Uint8Array {
  const parts = [
    message("P", (w) => w.cstr("").cstr(sql).i16(0)),
    message("B", (w) => {
      w.cstr("").cstr("").i16(0).i16(params.length);
      for (const p of params) {
        if (p === null) w.i32(-1);
        else w.i32(p.length).bytes(p);
      }
      w.i16(0);
    }),
    message("D", (w) => w.byte(0x50).cstr("")),
    message("E", (w) => w.cstr("").i32(0)),
    message("S", () => {}),
  ];
  return concatBytes(...parts);
}

export interface BackendMessage {
  /** Type byte as a one-character string ("D", "Z", ...). */
  type: string;
  body: Uint8Array;
}

/** Splits the incoming byte stream into messages. */
export class MessageReader {
  #buf: Uint8Array = new Uint8Array(0);
  #start = 0;

  push(chunk: Uint8Array): void {
    const rest = this.#buf.subarray(this.#start);
    if (rest.length === 0) {
      this.#buf = chunk;
    } else {
      const next = new Uint8Array(rest.length + chunk.length);
      next.set(rest);
      next.set(chunk, rest.length);
      this.#buf = next;
    }
    this.#start = 0;
  }

  /** The next complete message, or null if more bytes are needed. */
  next(): BackendMessage | null {
    const avail = this.#buf.length - this.#start;
    if (avail < 5) return null;
    const view = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#start);
    const len = view.getInt32(1);
    if (len < 4) throw new Error(`invalid message length ${len} from the server`);
    if (avail < 1 + len) return null;
    const type = String.fromCharCode(this.#buf[this.#start]);
    const body = this.#buf.subarray(this.#start + 5, this.#start + 1 + len);
    this.#start += 1 + len;
    return { type, body };
  }

  /** Bytes received but not yet consumed (e.g. after the SSL response byte). */
  takeRest(): Uint8Array {
    const rest = this.#buf.slice(this.#start);
    this.#buf = new Uint8Array(0);
    this.#start = 0;
    return rest;
  }
}

/** Sequential reader for one message body. */
export class BodyReader {
  #view: DataView;
  #pos = 0;
  constructor(readonly body: Uint8Array) {
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }
  i16(): number {
    const v = this.#view.getInt16(this.#pos);
    this.#pos += 2;
    return v;
  }
  i32(): number {
    const v = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return v;
  }
  byte(): number {
    return this.body[this.#pos++];
  }
  bytes(n: number): Uint8Array {
    const v = this.body.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
  cstrBytes(): Uint8Array {
    let end = this.body.indexOf(0, this.#pos);
    if (end < 0) end = this.body.length;
    const v = this.body.subarray(this.#pos, end);
    this.#pos = end + 1;
    return v;
  }
  cstr(): string {
    return decoder.decode(this.cstrBytes());
  }
  rest(): Uint8Array {
    const v = this.body.subarray(this.#pos);
    this.#pos = this.body.length;
    return v;
  }
  get done(): boolean {
    return this.#pos >= this.body.length;
  }
}

/** ErrorResponse/NoticeResponse fields by their one-letter code. */
export function parseErrorFields(body: Uint8Array): Map<string, string> {
  const fields = new Map<string, string>();
  const r = new BodyReader(body);
  while (!r.done) {
    const code = r.byte();
    if (code === 0) break;
    fields.set(String.fromCharCode(code), r.cstr());
  }
  return fields;
}

/** RowDescription: the column names (bytes). */
export function parseRowDescription(body: Uint8Array): Uint8Array[] {
  const r = new BodyReader(body);
  const n = r.i16();
  const names: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    names.push(r.cstrBytes().slice());
    r.bytes(18); // table oid, column, type oid, size, modifier, format
  }
  return names;
}

/** DataRow: each value's bytes, null for SQL NULL. */
export function parseDataRow(body: Uint8Array): (Uint8Array | null)[] {
  const r = new BodyReader(body);
  const n = r.i16();
  const values: (Uint8Array | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.i32();
    values.push(len < 0 ? null : r.bytes(len).slice());
  }
  return values;
}

export interface Notification {
  pid: number;
  channel: Uint8Array;
  payload: Uint8Array;
}

export function parseNotification(body: Uint8Array): Notification {
  const r = new BodyReader(body);
  const pid = r.i32();
  return { pid, channel: r.cstrBytes().slice(), payload: r.cstrBytes().slice() };
}
