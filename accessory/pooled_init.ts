// A prepared init (prepared_init_life.ts) cloned by the pool program
// (pool_program.ts) ahead of demand. Naming is one write and one byte back:
// no exec, no file, nothing that blocks.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, write } from "../ffi/fd.ts";
import { initProcessName } from "./init_name.ts";
import type { PidNamespace } from "./pid_namespace.ts";
import type { PoolFactory } from "./pool_factory.ts";
import { initNaming } from "./pool_program.ts";
import { ACK, PreparedInitLife } from "./prepared_init_life.ts";

export class PooledInit extends PreparedInitLife {
  /** Has the program clone one; in the IPC namespace `ipc` (an fd) if given, else in a new one. */
  static start(loop: EventLoop, factory: PoolFactory, ipc: number | null = null): PooledInit {
    const init = new PooledInit(loop, ipc === null);
    factory.init(ipc).then(
      (started) => {
        init.command = started.command;
        init.ack = started.ack;
        init.started(started.pid, () => {});
      },
      (error) => init.fail(error),
    );
    return init;
  }

  become(name: string, onExit: (namespace: PidNamespace) => void): Promise<PidNamespace> {
    const named = this.naming(onExit);
    try {
      // One write below PIPE_BUF into an empty pipe: whole, and at once.
      write(this.command, initNaming(initProcessName(name), name));
      closeQuietly(this.command); // it has all it needs
      this.command = -1;
      // The loop then sleeps rather than polls for the answer: the pipe's
      // wakeup often puts the init on the daemon's own CPU, where it runs
      // only once the daemon sleeps (README: a 60 us poll was no faster).
      this.loop.add(this.ack, EPOLLIN, () => this.#acked());
    } catch (e) {
      this.fail(e);
    }
    return named;
  }

  #acked(): void {
    const byte = this.readAck();
    if (byte === null) return; // spurious
    if (byte === ACK && this.state === "naming") {
      this.loop.forget(this.ack); // ours alone: closing it leaves the epoll set
      closeQuietly(this.ack);
      this.ack = -1;
      this.took();
      return;
    }
    this.fail(new Error(`init ${this.process!.pid} exited before it took its name`));
  }
}
