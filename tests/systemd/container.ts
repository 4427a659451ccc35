// A throwaway Debian container with systemd as PID 1 (systemd-nspawn): boots
// the cached root (root.ts) through a tmpfs overlay, so every boot starts
// fresh and nothing is written to the root. Driven with nsenter (machinectl
// would need a systemd on the host). powerOff() (always, in finally) stops
// it with SIGTERM, as `poweroff` would, and removes the cgroups it ran in.
//
// Host-side footprint, all removed by powerOff(): nspawn's directory
// /run/systemd/nspawn/propagate/NAME, and one cgroup per container in
// the cgroup2 tree (and, on hybrid hosts, in the name=systemd tree, where
// nspawn --keep-unit otherwise creates /payload and /supervisor in the root
// and two containers would share them). Mounts (overlay, tmpfs, binds) live
// in nspawn's own mount namespace and the network (--private-network) in its
// own network namespace: they end with it.

const decoder = new TextDecoder();

/** cgroup2 for the container's systemd, or the hybrid layout (v1 controllers + v2 "unified"). */
export type Layout = "unified" | "hybrid";

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

interface CgroupMounts {
  v2: string;
  /** The name=systemd v1 hierarchy of a hybrid host. */
  systemdV1: string | null;
}

function hostCgroupMounts(): CgroupMounts | null {
  let v2: string | null = null;
  let systemdV1: string | null = null;
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [before, after] = line.split(" - ");
    if (after === undefined) continue;
    const target = before.split(" ")[4];
    const [fstype, , superOptions] = after.split(" ");
    if (fstype === "cgroup2" && v2 === null) v2 = target;
    if (fstype === "cgroup" && superOptions?.split(",").includes("name=systemd")) {
      systemdV1 = target;
    }
  }
  return v2 === null ? null : { v2, systemdV1 };
}

/** The layouts this host can boot a container with (hybrid only on a hybrid host). */
export function bootableLayouts(): Layout[] {
  const mounts = hostCgroupMounts();
  if (mounts === null) return [];
  return mounts.systemdV1 !== null ? ["unified", "hybrid"] : ["unified"];
}

/** Why containers cannot boot here, or null. */
export function cannotBoot(): string | null {
  if (Deno.uid() !== 0) return "needs root";
  for (const tool of ["/usr/bin/systemd-nspawn", "/usr/sbin/debootstrap", "/usr/bin/nsenter"]) {
    try {
      Deno.statSync(tool);
    } catch {
      return `${tool} is missing (.ci/bootstrap --test installs it)`;
    }
  }
  return hostCgroupMounts() === null ? "no cgroup2 mount" : null;
}

function removeCgroupTree(dir: string): void {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const entry of entries) if (entry.isDirectory) removeCgroupTree(`${dir}/${entry.name}`);
  for (let attempt = 0;; attempt++) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      // EBUSY until the last process of a killed container is gone.
      if (attempt >= 100) throw new Error(`rmdir ${dir}: ${e}`);
      const until = Date.now() + 50;
      while (Date.now() < until) { /* short, rare wait */ }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(100);
  }
}

export interface BootOptions {
  layout: Layout;
  root: string;
  /** host path -> container path, read-only. */
  bind?: Record<string, string>;
}

export class Container {
  readonly name: string;
  readonly layout: Layout;
  #nspawn: Deno.ChildProcess;
  #pid1 = 0;
  #cgroups: string[];
  #console: Promise<string>;

  private constructor(
    name: string,
    layout: Layout,
    nspawn: Deno.ChildProcess,
    cgroups: string[],
  ) {
    this.name = name;
    this.layout = layout;
    this.#nspawn = nspawn;
    this.#cgroups = cgroups;
    this.#console = Promise.all([
      new Response(nspawn.stdout).text(),
      new Response(nspawn.stderr).text(),
    ]).then(([out, err]) => out + err);
  }

  /** Boots and waits until systemd reports `running`; powers off again if that fails. */
  static async boot(options: BootOptions): Promise<Container> {
    const mounts = hostCgroupMounts();
    if (mounts === null) throw new Error("no cgroup2 mount");
    const name = `spawn-${crypto.randomUUID().slice(0, 8)}`;
    const cgroups = [`${mounts.v2}/cm4all-spawn-test-${name}`];
    if (options.layout === "hybrid") {
      if (mounts.systemdV1 === null) throw new Error("the hybrid layout needs a hybrid host");
      cgroups.push(`${mounts.systemdV1}/cm4all-spawn-test-${name}`);
    } else if (mounts.systemdV1 !== null) {
      cgroups.push(`${mounts.systemdV1}/cm4all-spawn-test-${name}`);
    }
    for (const dir of cgroups) Deno.mkdirSync(dir);
    const args = [
      "-D",
      options.root,
      "-b",
      "--register=no",
      "--keep-unit",
      "--console=passive",
      "--private-network",
      "--volatile=overlay",
      `--machine=${name}`,
      ...Object.entries(options.bind ?? {}).map(([host, inside]) => `--bind-ro=${host}:${inside}`),
    ];
    let nspawn: Deno.ChildProcess;
    try {
      // The shell moves itself into the container's cgroups, then becomes nspawn.
      nspawn = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          'for cg in $CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 125; done; exec "$@"',
          "sh",
          "systemd-nspawn",
          ...args,
        ],
        clearEnv: true,
        env: {
          PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
          CGROUPS: cgroups.join(" "),
          // Unset on a hybrid host, nspawn gives the container the hybrid
          // layout too ("0" would mean cgroup v1 only).
          ...(options.layout === "unified" ? { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1" } : {}),
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      for (const dir of cgroups.reverse()) removeCgroupTree(dir);
      throw e;
    }
    const container = new Container(name, options.layout, nspawn, cgroups);
    try {
      await container.#waitForBoot();
    } catch (e) {
      const console = await container.powerOff();
      throw new Error(`${e instanceof Error ? e.message : e}\n--- container console:\n${console}`);
    }
    return container;
  }

  async #waitForBoot(): Promise<void> {
    let exited = false;
    this.#nspawn.status.then(() => exited = true);
    this.#pid1 = await waitFor("the container's PID 1", () => {
      if (exited) throw new Error("systemd-nspawn exited during boot");
      try {
        const children = Deno.readTextFileSync(
          `/proc/${this.#nspawn.pid}/task/${this.#nspawn.pid}/children`,
        ).trim().split(/\s+/).filter((p) => p);
        for (const pid of children) {
          const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
          if (exe.endsWith("/systemd")) return Promise.resolve(Number(pid));
        }
      } catch { /* not yet */ }
      return Promise.resolve(undefined);
    });
    const state = await waitFor("systemctl is-system-running", async () => {
      if (exited) throw new Error("systemd-nspawn exited during boot");
      const out = await this.exec(["systemctl", "is-system-running", "--wait"]);
      const text = out.stdout.trim();
      return ["running", "degraded", "maintenance", "stopping"].includes(text) ? text : undefined;
    });
    if (state !== "running") {
      const failed = await this.exec(["systemctl", "--failed", "--no-legend", "--plain"]);
      throw new Error(`the container booted ${state}: ${failed.stdout.trim()}`);
    }
  }

  /** The container's PID 1 as the host sees it. */
  get pid1(): number {
    return this.#pid1;
  }

  /** Runs argv inside every namespace of the container. */
  async exec(argv: string[], options: { input?: string } = {}): Promise<Output> {
    const child = new Deno.Command("nsenter", {
      args: ["--target", String(this.#pid1), "--all", "--", ...argv],
      clearEnv: true,
      env: {
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
        LANG: "C.UTF-8",
        SYSTEMD_PAGER: "",
        SYSTEMD_COLORS: "0",
        TERM: "dumb",
      },
      stdin: options.input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.input));
      await writer.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }

  /** exec() that must succeed; returns stdout. */
  async run(argv: string[], options: { input?: string } = {}): Promise<string> {
    const out = await this.exec(argv, options);
    if (out.code !== 0) {
      throw new Error(
        `${argv.join(" ")} exited ${out.code}:\n${out.stdout.trim()}\n${out.stderr.trim()}`,
      );
    }
    return out.stdout;
  }

  /** A long-running command inside (e.g. a scope); kill it with .kill(). */
  spawn(argv: string[]): Deno.ChildProcess {
    return new Deno.Command("nsenter", {
      args: ["--target", String(this.#pid1), "--all", "--", ...argv],
      clearEnv: true,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** Stops the container (SIGTERM to nspawn: a clean poweroff), removes its cgroups; returns its console. */
  async powerOff(): Promise<string> {
    let status: Deno.CommandStatus | undefined;
    try {
      this.#nspawn.kill("SIGTERM");
    } catch { /* exited already */ }
    const timer = setTimeout(() => {
      // Still not down: kill everything in its cgroup.
      try {
        Deno.writeTextFileSync(`${this.#cgroups[0]}/cgroup.kill`, "1");
      } catch { /* gone */ }
      try {
        this.#nspawn.kill("SIGKILL");
      } catch { /* gone */ }
    }, 30_000);
    try {
      status = await this.#nspawn.status;
    } finally {
      clearTimeout(timer);
    }
    const console = await this.#console;
    try {
      Deno.writeTextFileSync(`${this.#cgroups[0]}/cgroup.kill`, "1");
    } catch { /* gone or empty */ }
    for (const dir of [...this.#cgroups].reverse()) removeCgroupTree(dir);
    // nspawn's mount-propagation directory, left when it was killed.
    try {
      Deno.removeSync(`/run/systemd/nspawn/propagate/${this.name}`);
    } catch { /* removed by nspawn, as usual */ }
    return `${console}\n(systemd-nspawn exited ${status.code})`;
  }
}
