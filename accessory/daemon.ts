// The accessory daemon: listeners, connections, the namespace registry.
import { EventLoop } from "../ffi/event_loop.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { errorMessage, logError } from "../shared/log.ts";
import { Connection } from "./connection.ts";
import { watchListener } from "./listener.ts";
import { NamespaceFactory } from "./namespace_factory.ts";
import { NamespaceRegistry } from "./namespace_registry.ts";
import { allowEveryone, type Policy, RequestHandler } from "./request_handler.ts";

/** How long stop() waits for killed inits and helpers to be gone. */
const STOP_TIMEOUT_MS = 10_000;

export interface DaemonOptions {
  /** Listening sockets, already bound (see listener.ts). */
  listeners: number[];
  /** How long an unleased name lives after its last use, in seconds. */
  namespaceTtl: number;
  /** A private directory for the init symlinks. */
  runtimeDirectory: string;
  policy?: Policy;
}

export class AccessoryDaemon {
  readonly loop = new EventLoop();
  readonly factory: NamespaceFactory;
  readonly registry: NamespaceRegistry;
  readonly handler: RequestHandler;
  readonly #connections = new Set<Connection>();
  readonly #listeners: number[];
  #running: Promise<void> | null = null;

  constructor(options: DaemonOptions) {
    this.loop.onError = (error, fd) =>
      logError(`handler for fd ${fd} failed: ${errorMessage(error)}`);
    this.factory = new NamespaceFactory(this.loop, options.runtimeDirectory);
    this.registry = new NamespaceRegistry(this.factory, options.namespaceTtl * 1000);
    this.handler = new RequestHandler(this.registry, options.policy ?? allowEveryone);
    this.#listeners = options.listeners;
  }

  /** Starts serving; the promise settles after stop(). */
  run(): Promise<void> {
    if (this.#running === null) {
      for (const fd of this.#listeners) {
        watchListener(this.loop, fd, (connection) => {
          this.#connections.add(
            new Connection(connection, this.loop, this.handler, (c) => this.#connections.delete(c)),
          );
        });
      }
      this.#running = this.loop.run();
    }
    return this.#running;
  }

  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting, closes every connection, discards every name (killing
   * the inits) and the helpers; settles when those processes are gone.
   */
  async stop(): Promise<void> {
    for (const fd of this.#listeners) {
      this.loop.remove(fd);
      closeQuietly(fd);
    }
    this.#listeners.length = 0;
    for (const connection of [...this.#connections]) connection.close();
    // The loop keeps running until the killed inits are reaped (their pidfds).
    const gone = Promise.all([this.registry.discardAll(), this.factory.close()]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logError(`processes still running after ${STOP_TIMEOUT_MS} ms; exiting anyway`);
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    await Promise.race([gone, timeout]);
    clearTimeout(timer);
    await this.loop.close();
  }
}
