/**
 * A namespace could not be made; the message is sent to the client as is,
 * naming the failing step and the errno text ("Failed to write uid_map:
 * Invalid argument").
 */
export class NamespaceError extends Error {
  override name = "NamespaceError";
}

/** Wraps a failure of `step` into a NamespaceError with the errno text. */
export function failed(step: string, error: unknown): NamespaceError {
  if (error instanceof NamespaceError) return error;
  const reason = error !== null && typeof error === "object" && "reason" in error
    ? String(error.reason) // SysError: the C library's text alone
    : error instanceof Error
    ? error.message
    : String(error);
  return new NamespaceError(`Failed to ${step}: ${reason}`);
}
