// sd_notify(3) and sd_listen_fds(3), without libsystemd.
import { connect, SOCK_DGRAM, unixSocket } from "../ffi/socket.ts";
import { sendMessage } from "../ffi/socket_message.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { getpid } from "../ffi/process.ts";
import { errorMessage, logWarning } from "./log.ts";

const SD_LISTEN_FDS_START = 3;

let notifyFailureLogged = false;

/**
 * Sends a state string (e.g. "READY=1") to $NOTIFY_SOCKET, a path or an
 * abstract "@name". Returns false when not running under systemd, and when
 * the socket cannot be reached: like sd_notify(3), a failure never stops a
 * daemon (it is logged once; a supervisor that is gone cannot be told).
 */
export function notify(state: string): boolean {
  const address = Deno.env.get("NOTIFY_SOCKET");
  if (!address) return false;
  let fd = -1;
  try {
    fd = unixSocket(SOCK_DGRAM, false);
    connect(fd, address);
    sendMessage(fd, new TextEncoder().encode(state), [], 0x4000 /* MSG_NOSIGNAL */);
    return true;
  } catch (e) {
    if (!notifyFailureLogged) {
      notifyFailureLogged = true;
      logWarning(
        `cannot notify the service manager (NOTIFY_SOCKET=${address}): ${errorMessage(e)}; ` +
          "running on without it",
      );
    }
    return false;
  } finally {
    closeQuietly(fd); // -1 if the socket was never made
  }
}

/**
 * The fds passed by socket activation (LISTEN_PID = our pid, LISTEN_FDS = n),
 * or [] when there are none. The variables are removed so that children do
 * not see them.
 */
export function listenFds(): number[] {
  const pid = Number(Deno.env.get("LISTEN_PID"));
  const count = Number(Deno.env.get("LISTEN_FDS"));
  Deno.env.delete("LISTEN_PID");
  Deno.env.delete("LISTEN_FDS");
  Deno.env.delete("LISTEN_FDNAMES");
  if (!Number.isInteger(pid) || pid !== getpid() || !Number.isInteger(count) || count < 1) {
    return [];
  }
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}

/** How often StatusNotifier looks for a changed status text. */
export const STATUS_INTERVAL_MS = 1000;

/**
 * Keeps systemd's STATUS= (shown by `systemctl status`) current: every
 * interval it asks for the text and sends it when it changed, so at most one
 * notification a second however busy the daemon is. Does nothing without
 * $NOTIFY_SOCKET. The timer does not keep the process alive.
 */
export class StatusNotifier {
  #last: string | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly text: () => string,
    readonly send: (state: string) => boolean = notify,
    readonly intervalMs = STATUS_INTERVAL_MS,
  ) {}

  /** Sends the current text now and then whenever it changes. */
  start(): void {
    if (this.#timer !== null || !Deno.env.get("NOTIFY_SOCKET")) return;
    this.update();
    const timer = setInterval(() => this.update(), this.intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Sends the text if it changed since the last successful send. */
  update(): void {
    let text: string;
    try {
      text = this.text().replaceAll("\n", " ");
      if (text === this.#last) return;
      if (this.send(`STATUS=${text}`)) this.#last = text;
    } catch {
      // systemd gone or the socket refused: try again next time
    }
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
