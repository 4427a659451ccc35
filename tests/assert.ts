// Minimal assertions (jsr:@std/assert is not reachable from here).
import { deepStrictEqual } from "node:assert";

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  try {
    deepStrictEqual(actual, expected);
  } catch {
    throw new AssertionError(
      `${message ? message + ": " : ""}expected ${Deno.inspect(expected)}, got ${
        Deno.inspect(actual)
      }`,
    );
  }
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  let equal = true;
  try {
    deepStrictEqual(actual, expected);
  } catch {
    equal = false;
  }
  if (equal) {
    throw new AssertionError(message ?? `expected something other than ${Deno.inspect(actual)}`);
  }
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(actual)) {
    throw new AssertionError(message ?? `${JSON.stringify(actual)} does not match ${pattern}`);
  }
}

function matchingError(e: unknown, pattern?: RegExp | string): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (pattern !== undefined) {
    const ok = typeof pattern === "string"
      ? err.message.includes(pattern)
      : pattern.test(err.message);
    if (!ok) {
      throw new AssertionError(`error ${JSON.stringify(err.message)} does not match ${pattern}`);
    }
  }
  return err;
}

export function assertThrows(fn: () => unknown, pattern?: RegExp | string): Error {
  try {
    fn();
  } catch (e) {
    return matchingError(e, pattern);
  }
  throw new AssertionError("expected an error, none was thrown");
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  pattern?: RegExp | string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return matchingError(e, pattern);
  }
  throw new AssertionError("expected a rejection, none came");
}
