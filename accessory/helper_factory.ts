// The daemon's end of the factory process (FACTORY_SCRIPT in
// helper_programs.ts): requests go out as lines, answers come back as
// lines, matched by id. Started on first use, off the event loop; if it
// dies, what was asked of it fails and the next request starts a new one.
import type { EventLoop } from "../ffi/event_loop.ts";
import { EPOLLIN } from "../ffi/epoll.ts";
import { closeQuietly } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal, SIGNALS } from "../ffi/process.ts";
import { reap } from "../ffi/spawn.ts";
import { errorMessage, logWarning } from "../shared/log.ts";
import { giveCpuSlice } from "./cpu_slice.ts";
import { ChildPipes } from "./child_pipes.ts";
import { type FactoryAnswer, factoryArgv, parseFactoryAnswer } from "./helper_programs.ts";

type Answer<K> = Extract<FactoryAnswer, { kind: K }>;

export class HelperFactory {
  #child: Promise<ChildPipes> | null = null;
  #nextId = 1;
  readonly #pending = new Map<
    number,
    { answer: PromiseWithResolvers<FactoryAnswer>; factory: Promise<ChildPipes> }
  >();
  #buffer = "";
  #closed = false;

  constructor(
    readonly loop: EventLoop,
    /** Prepended to the factory's argv (a test seam). */
    readonly wrapper: string[] = [],
    /** The factory's environment (the test seam's GATE). */
    readonly env: string[] = [],
  ) {}

  /** A prepared init; `ipcPath` is an IPC namespace for it to join (else a new one). */
  init(ipcPath: string | null): Promise<Answer<"p">> {
    return this.#request("p", ipcPath) as Promise<Answer<"p">>;
  }

  userHelper(): Promise<Answer<"u">> {
    return this.#request("u", null) as Promise<Answer<"u">>;
  }

  async #request(kind: "p" | "u", path: string | null): Promise<FactoryAnswer> {
    if (this.#closed) throw new Error("the daemon is stopping");
    if (path !== null && /[\n ]/.test(path)) throw new Error(`bad path ${JSON.stringify(path)}`);
    const id = this.#nextId++;
    const answer = Promise.withResolvers<FactoryAnswer>();
    // It may be rejected (the factory exited) while this still awaits the
    // factory's start: not an unhandled rejection, which would end the daemon.
    answer.promise.catch(() => {});
    const factory = this.#child ??= this.#start();
    this.#pending.set(id, { answer, factory });
    try {
      const child = await factory;
      child.send(`${kind} ${id}${path !== null ? " " + path : ""}\n`);
    } catch (e) {
      this.#pending.delete(id);
      throw e;
    }
    const result = await answer.promise;
    if (result.kind === "e") throw new Error(result.message);
    return result;
  }

  #start(): Promise<ChildPipes> {
    const started = ChildPipes.start(
      this.loop,
      factoryArgv(),
      (text) => this.#output(text, started),
      () => {
        if (this.#child === started) this.#child = null;
      },
      {},
      this.wrapper,
      this.env,
    ).then((pipes) => {
      // Started from a worker thread, which has not the daemon's slice; it
      // forks nothing before its first request, which waits for this.
      giveCpuSlice(pipes.pid);
      return pipes;
    });
    started.catch(() => {
      if (this.#child === started) this.#child = null;
    });
    return started;
  }

  #output(text: string | null, factory: Promise<ChildPipes>): void {
    if (text === null) {
      // Everything it and its children wrote has been read: what is still
      // pending will not be answered.
      this.#exited(factory);
      return;
    }
    this.#buffer += text;
    for (let newline; (newline = this.#buffer.indexOf("\n")) >= 0;) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      const answer = parseFactoryAnswer(line);
      const waiter = answer && this.#pending.get(answer.id);
      if (!answer || !waiter) {
        logWarning(`unexpected answer from the namespace factory: ${JSON.stringify(line)}`);
        if (answer?.kind === "p" || answer?.kind === "u") this.#killStray(answer.pid);
        continue;
      }
      this.#pending.delete(answer.id);
      waiter.answer.resolve(answer);
    }
  }

  #exited(which: Promise<ChildPipes>): void {
    if (this.#child === which) this.#child = null;
    this.#buffer = "";
    which.then((child) => child.closeStdin(), () => {});
    const error = new Error("the namespace factory exited");
    for (const [id, waiter] of this.#pending) {
      if (waiter.factory !== which) continue;
      if (!this.#closed) logWarning(`${error.message}; failing request ${id}`);
      this.#pending.delete(id);
      waiter.answer.reject(error);
    }
  }

  /** Something made for a request nobody waits for any more: end it, reap it. */
  #killStray(pid: number): void {
    try {
      const pidfd = pidfdOpen(pid);
      pidfdSendSignal(pidfd, SIGNALS.SIGKILL);
      this.loop.add(pidfd, EPOLLIN, () => {
        reap(pidfd);
        this.loop.remove(pidfd);
        closeQuietly(pidfd);
      });
    } catch {
      // gone already
    }
  }

  /** Ends the factory (its user namespace helpers die with it); settles when it is gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    if (child === null) return;
    try {
      const c = await child;
      c.kill();
      await c.gone;
    } catch (e) {
      logWarning(`namespace factory: ${errorMessage(e)}`);
    }
  }
}
