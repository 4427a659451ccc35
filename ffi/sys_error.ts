import { libc } from "./libc.ts";
import { ERRNO_NAMES } from "./errno_names.ts";

/** A failed libc call: carries the call, the errno number, its name and text. */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly call: string;
  constructor(call: string, errno: number) {
    const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${call}: ${strerror(errno)} (${code})`);
    this.name = "SysError";
    this.errno = errno;
    this.code = code;
    this.call = call;
  }
  /** The C library's text alone, e.g. "Invalid argument". */
  get reason(): string {
    return strerror(this.errno);
  }
}

const errnoCell = new Deno.UnsafePointerView(libc.__errno_location()!);

/** errno of the last synchronous libc call on this (the JS) thread. */
export function lastErrno(): number {
  return errnoCell.getInt32();
}

export function strerror(errno: number): string {
  const p = libc.strerror(errno);
  return p === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(p);
}

/** Throws SysError(call, errno) when a libc call returned -1. */
export function check(result: number | bigint, call: string): number {
  const n = Number(result);
  if (n < 0) throw new SysError(call, lastErrno());
  return n;
}

/** Like check(), but returns -errno instead of throwing for the listed errnos. */
export function checkAllowing(
  result: number | bigint,
  call: string,
  allowed: readonly number[],
): number {
  const n = Number(result);
  if (n >= 0) return n;
  const e = lastErrno();
  if (allowed.includes(e)) return -e;
  throw new SysError(call, e);
}

const encoder = new TextEncoder();

/** A NUL-terminated C string. */
export function cstr(s: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = typeof s === "string" ? encoder.encode(s) : s;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}
