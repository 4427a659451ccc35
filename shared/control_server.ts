// The daemon side of the control socket (control_protocol.ts): a listening
// SOCK_STREAM socket in the daemon's event loop. Only uid 0 is answered
// (SO_PEERCRED); the socket file is 0600 besides. Each connection sends one
// request line and gets one answer; a slow or silent client is dropped after
// a few seconds, and at most a few connections are served at once, so the
// control socket cannot take the daemon's attention from its real work.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN, EPOLLOUT } from "../ffi/epoll.ts";
import { closeQuietly, read, write } from "../ffi/fd.ts";
import {
  accept,
  bind,
  connect,
  listen,
  peerCredentials,
  SOCK_STREAM,
  unixSocket,
} from "../ffi/socket.ts";
import { SysError } from "../ffi/sys_error.ts";
import {
  type ControlRequest,
  type DaemonKind,
  DEFAULT_CONTROL_PATHS,
  encodeResponse,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "./control_protocol.ts";
import { errorMessage, log, logWarning } from "./log.ts";

const CLIENT_TIMEOUT_MS = 5000;
const MAX_CLIENTS = 8;
/** At most one refusal line per this interval (a loop of refused clients cannot flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 1000;

export type ControlHandler = (request: ControlRequest) => Record<string, unknown>;

export class ControlServer {
  readonly #fd: number;
  /** The socket file's inode: close() removes only our own file. */
  readonly #ino: number | null;
  /** The directory, if this server made it (removed again when empty). */
  readonly #madeDir: string | null = null;
  readonly #clients = new Set<ControlClient>();
  #lastRefusalLog = -Infinity;
  #suppressed = 0;

  /**
   * Binds PATH (its directory made if missing, a stale socket replaced) and
   * serves it in `loop`. Throws naming the path, also when another daemon
   * answers there (two instances must not steal each other's socket).
   */
  constructor(
    readonly path: string,
    readonly loop: EventLoop,
    readonly daemon: DaemonKind,
    readonly handler: ControlHandler,
  ) {
    const fd = unixSocket(SOCK_STREAM);
    try {
      const dir = path.slice(0, path.lastIndexOf("/")) || "/";
      if (!isDirectory(dir)) {
        Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
        this.#madeDir = dir;
      }
      removeStaleSocket(path);
      bind(fd, path);
      Deno.chmodSync(path, 0o600);
      listen(fd, 16);
      loop.add(fd, EPOLLIN, () => this.#accept());
      this.#ino = Deno.statSync(path).ino;
    } catch (e) {
      closeQuietly(fd);
      throw new Error(`control socket ${path}: ${errorMessage(e)}`);
    }
    this.#fd = fd;
  }

  #accept(): void {
    for (let fd; (fd = accept(this.#fd)) !== null;) {
      if (this.#clients.size >= MAX_CLIENTS) {
        closeQuietly(fd);
        continue;
      }
      let uid: number | null = null;
      let pid = 0;
      try {
        ({ uid, pid } = peerCredentials(fd));
      } catch {
        uid = null;
      }
      const refusal = uid === 0 ? null : `permission denied: uid ${uid ?? "?"} is not root`;
      if (refusal !== null) this.#logRefusal(pid, uid, refusal);
      const client = new ControlClient(fd, this, refusal);
      this.#clients.add(client);
    }
  }

  #logRefusal(pid: number, uid: number | null, reason: string): void {
    const now = performance.now();
    if (now - this.#lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#lastRefusalLog = now;
    const note = this.#suppressed > 0 ? ` (${this.#suppressed} similar lines suppressed)` : "";
    this.#suppressed = 0;
    logWarning(`control socket ${this.path}: refused pid ${pid}: ${reason}${note}`, {
      SPAWN_PEER_PID: pid,
      ...(uid === null ? {} : { SPAWN_PEER_UID: uid }),
    });
  }

  /** @internal */
  answer(request: string, refusal: string | null): Uint8Array {
    if (refusal !== null) return encodeResponse(this.daemon, { error: refusal });
    try {
      return encodeResponse(this.daemon, this.handler(parseRequest(request)));
    } catch (e) {
      return encodeResponse(this.daemon, { error: errorMessage(e) });
    }
  }

  /** @internal */
  forget(client: ControlClient): void {
    this.#clients.delete(client);
  }

  /** Stops listening, drops the clients and removes the socket file. */
  close(): void {
    for (const client of [...this.#clients]) client.close();
    this.loop.remove(this.#fd);
    closeQuietly(this.#fd);
    try {
      if (Deno.statSync(this.path).ino === this.#ino) Deno.removeSync(this.path);
    } catch {
      // gone already
    }
    try {
      // Ours: made now, or the fixed default's (/run/cm4all-spawn-*), which a
      // killed predecessor may have left. Only removed when empty.
      const dir = this.#madeDir ??
        (this.path === DEFAULT_CONTROL_PATHS[this.daemon]
          ? this.path.slice(0, this.path.lastIndexOf("/"))
          : null);
      if (dir !== null) Deno.removeSync(dir);
    } catch {
      // not empty (another daemon's socket, the accessory's init links) or gone
    }
  }
}

class ControlClient {
  readonly #buffer = new Uint8Array(MAX_REQUEST_BYTES + 1);
  #received = 0;
  #out: Uint8Array<ArrayBuffer> | null = null;
  #open = true;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(
    readonly fd: number,
    readonly server: ControlServer,
    readonly refusal: string | null,
  ) {
    this.#timer = setTimeout(() => this.close(), CLIENT_TIMEOUT_MS);
    server.loop.add(fd, EPOLLIN, () => this.#io());
  }

  #io(): void {
    try {
      if (this.#out === null) this.#read();
      if (this.#out !== null) this.#write();
    } catch (e) {
      if (!(e instanceof SysError)) log("error", `control socket: ${errorMessage(e)}`);
      this.close();
    }
  }

  #read(): void {
    for (;;) {
      const n = read(this.fd, this.#buffer.subarray(this.#received));
      if (n === null) return;
      if (n === 0) {
        this.close(); // gone before a whole request
        return;
      }
      const start = this.#received;
      this.#received += n;
      const newline = this.#buffer.subarray(start, this.#received).indexOf(0x0a);
      if (newline >= 0 || this.#received > MAX_REQUEST_BYTES) {
        const line = newline >= 0
          ? new TextDecoder().decode(this.#buffer.subarray(0, start + newline))
          : null;
        this.#out = (line === null
          ? encodeResponseTooLong(this.server)
          : this.server.answer(line, this.refusal)) as Uint8Array<ArrayBuffer>;
        this.server.loop.modify(this.fd, EPOLLOUT);
        return;
      }
    }
  }

  #write(): void {
    while (this.#out !== null && this.#out.length > 0) {
      const n = write(this.fd, this.#out);
      if (n === null) return; // wait for EPOLLOUT
      this.#out = this.#out.subarray(n);
    }
    this.close();
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    clearTimeout(this.#timer);
    this.server.loop.remove(this.fd);
    closeQuietly(this.fd);
    this.server.forget(this);
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Removes a socket file nobody listens on; throws if a daemon answers there. */
function removeStaleSocket(path: string): void {
  try {
    if (!Deno.lstatSync(path).isSocket) return; // bind fails naming EADDRINUSE
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const probe = unixSocket(SOCK_STREAM);
  try {
    connect(probe, path);
  } catch (e) {
    if (!(e instanceof SysError && e.code === "ECONNREFUSED")) throw e;
    Deno.removeSync(path); // left over from a crashed daemon
    return;
  } finally {
    closeQuietly(probe);
  }
  throw new Error("another daemon is serving it (give this one --control PATH)");
}

function encodeResponseTooLong(server: ControlServer): Uint8Array {
  return server.answer("", `request longer than ${MAX_REQUEST_BYTES} bytes`);
}
