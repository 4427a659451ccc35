// A prepared init (prepared_init_life.ts) made by the perl factory (see
// FACTORY_SCRIPT in helper_programs.ts for the init's side): told its NAME,
// it names itself, then execs sleep through NAME's init-NAME symlink with
// NAME's markers as environment. Nothing here blocks the event loop.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly, O_NONBLOCK, O_RDONLY, O_WRONLY, open, write } from "../ffi/fd.ts";
import type { HelperFactory } from "./helper_factory.ts";
import { initAssignment } from "./helper_programs.ts";
import type { InitLinks } from "./init_links.ts";
import { markerEnvironment } from "./init_marker.ts";
import type { PidNamespace } from "./pid_namespace.ts";
import { ACK, PreparedInitLife } from "./prepared_init_life.ts";
import type { QuietWatch } from "./quiet_watch.ts";

/** Where a perl-made init's NAME goes: its init-NAME symlink and its markers. */
export interface Naming {
  links: InitLinks;
  /** The daemon instance marked on the inits (init_marker.ts). */
  instance: string;
}

const encoder = new TextEncoder();

export class PreparedInit extends PreparedInitLife {
  /** Runs once NAME's symlink is no longer needed (its exec is done, or it died). */
  #onExecDone: (() => void) | null = null;

  private constructor(
    loop: EventLoop,
    readonly quiet: QuietWatch,
    readonly names: Naming,
    ownIpc: boolean,
  ) {
    super(loop, ownIpc);
  }

  /**
   * Has the factory make one. `ipc`: the IPC namespace the init must live in
   * (a name that has one already); default: a new one.
   */
  static start(
    loop: EventLoop,
    factory: HelperFactory,
    quiet: QuietWatch,
    names: Naming,
    ipc: number | null = null,
  ): PreparedInit {
    const init = new PreparedInit(loop, quiet, names, ipc === null);
    factory.init(ipc === null ? null : `/proc/${Deno.pid}/fd/${ipc}`).then(
      (answer) => init.#started(answer.pid, answer.commandFd, answer.ackFd),
      (error) => init.fail(error),
    );
    return init;
  }

  #started(pid: number, commandFd: number, ackFd: number): void {
    this.started(pid, () => {
      // Its pipe ends, reopened through /proc (a pipe's /proc/PID/fd link
      // opens that pipe). Not pidfd_getfd(2): container managers' seccomp
      // filters (systemd-nspawn's) refuse it. The pid cannot be reused
      // meanwhile: we are its parent and have not reaped it.
      this.command = open(`/proc/${pid}/fd/${commandFd}`, O_WRONLY);
      this.ack = open(`/proc/${pid}/fd/${ackFd}`, O_RDONLY | O_NONBLOCK);
      // It closes its copies now: end of file on the command pipe is ours to give.
      write(this.command, encoder.encode("ok\n"));
      this.loop.add(this.ack, EPOLLIN, () => this.#acked());
    });
  }

  /**
   * Its comm becomes the basename of NAME's symlink, then it execs sleep
   * through the symlink with NAME's markers as environment. Resolves once it
   * shows as init-NAME; the symlink goes once the exec is done.
   */
  become(name: string, onExit: (namespace: PidNamespace) => void): Promise<PidNamespace> {
    const named = this.naming(onExit);
    const { links, instance } = this.names;
    const link = links.acquire(name);
    this.#onExecDone = () => links.release(link);
    try {
      write(
        this.command,
        encoder.encode(initAssignment(link, markerEnvironment(instance, name))),
      );
    } catch (e) {
      this.fail(e);
    }
    closeQuietly(this.command); // it has all it needs
    this.command = -1;
    return named;
  }

  #acked(): void {
    for (;;) {
      const byte = this.readAck();
      if (byte === null) return; // EAGAIN
      if (byte === ACK && this.state === "naming") {
        if (this.took()) {
          // Its exec of sleep follows: watched without waking the daemon.
          const ack = this.ack;
          const onExecDone = this.#onExecDone!;
          this.ack = -1;
          this.#onExecDone = null;
          this.loop.remove(ack);
          this.quiet.add(ack, EPOLLIN, (closing) => {
            if (!closing && this.readAck(ack) !== -1) return; // still being executed
            this.quiet.remove(ack);
            closeQuietly(ack);
            onExecDone();
          });
          return;
        }
        continue;
      }
      if (byte >= 0) continue;
      // End of file: the exec of sleep is done (or it died): the link may go.
      this.loop.remove(this.ack);
      closeQuietly(this.ack);
      this.ack = -1;
      this.#execDone();
      if (this.state !== "named") this.fail(new Error(`init ${this.process!.pid} closed its pipe`));
      return;
    }
  }

  /** The link is no longer needed once the init is being killed. */
  protected override failed(): void {
    this.#execDone();
  }

  #execDone(): void {
    this.#onExecDone?.();
    this.#onExecDone = null;
  }
}
