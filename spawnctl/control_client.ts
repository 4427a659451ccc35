// The client side of the control socket: one request, one answer, and errors
// a person can act on (which socket, which daemon, what to do).
import {
  ControlProtocolError,
  type ControlRequest,
  type DaemonKind,
  encodeRequest,
  parseResponse,
  type ResponseHeader,
} from "../shared/control_protocol.ts";

const TIMEOUT_MS = 10_000;

const PROGRAM: Record<DaemonKind, string> = {
  accessory: "cm4all-spawn-accessory",
  reaper: "cm4all-spawn-reaper",
};

/** A failure to talk to a daemon; the message names the socket. */
export class ControlError extends Error {}

/** Asks the daemon at `path` (expected: `daemon`); returns the answer or throws ControlError. */
export async function askDaemon(
  daemon: DaemonKind,
  path: string,
  request: Omit<ControlRequest, "version">,
): Promise<ResponseHeader & Record<string, unknown>> {
  const where = `${daemon} control socket ${path}`;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ControlError(
        `${where}: no such socket (is ${
          PROGRAM[daemon]
        } running? Another instance: --${daemon} PATH)`,
      );
    }
    if (e instanceof Deno.errors.ConnectionRefused) {
      throw new ControlError(`${where}: nobody listens (${PROGRAM[daemon]} is not running)`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ControlError(`${where}: permission denied (cm4all-spawnctl must run as root)`);
    }
    throw new ControlError(`${where}: ${e instanceof Error ? e.message : e}`);
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }, TIMEOUT_MS);
  let text: string;
  try {
    await conn.write(encodeRequest(request));
    text = await new Response(conn.readable).text();
  } catch (e) {
    throw new ControlError(
      `${where}: no answer (${e instanceof Error ? e.message : e}; timeout ${TIMEOUT_MS / 1000} s)`,
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or with the stream
    }
  }
  let answer;
  try {
    answer = parseResponse(text.trim());
  } catch (e) {
    if (e instanceof ControlProtocolError) throw new ControlError(`${where}: ${e.message}`);
    throw e;
  }
  if (answer.daemon !== daemon) {
    throw new ControlError(
      `${path} is the ${answer.daemon}'s control socket, not the ${daemon}'s ` +
        `(mixed up --accessory and --reaper?)`,
    );
  }
  if (typeof answer.error === "string") throw new ControlError(`${where}: ${answer.error}`);
  return answer;
}
