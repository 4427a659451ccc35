// A private cgroup2 subtree for integration tests and benchmarks:
// <cgroup2 mount>/spawn-test-<random>, removed (processes killed) afterwards.
import { findCgroup2Root } from "../../reaper/cgroup/root.ts";
import { getuid, kill } from "../../ffi/process.ts";

export const MOUNT: string | null = (() => {
  try {
    return findCgroup2Root();
  } catch {
    return null;
  }
})();

/** Integration tests need root and a cgroup2 mount. */
export const CANNOT_RUN = getuid() !== 0 || MOUNT === null;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls cond every `every` ms until it holds; throws after timeoutMs. */
export async function waitFor(
  cond: () => boolean,
  what: string | (() => string),
  timeoutMs = 10_000,
  every = 10,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    }
    await sleep(every);
  }
}

export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

export function subdirectories(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

export class TestCgroupRoot {
  readonly path: string;

  constructor() {
    if (MOUNT === null) throw new Error("no cgroup2 mount");
    this.path = `${MOUNT}/spawn-test-${crypto.randomUUID().slice(0, 8)}`;
    Deno.mkdirSync(this.path);
  }

  abs(relative: string): string {
    return this.path + relative;
  }

  mkdir(relative: string): void {
    Deno.mkdirSync(this.abs(relative), { recursive: true });
  }

  exists(relative: string): boolean {
    return isDirectory(this.abs(relative));
  }

  /** Runs `sh -c script` with the shell moved into the cgroup first. */
  async runIn(relative: string, script = "exec true"): Promise<void> {
    const status = await this.spawnIn(relative, script).status;
    if (!status.success) throw new Error(`process in ${relative} failed: ${status.code}`);
  }

  spawnIn(relative: string, script: string): Deno.ChildProcess {
    const procs = this.abs(relative) + "/cgroup.procs";
    return new Deno.Command("sh", {
      args: ["-c", `echo $$ > '${procs}' && ${script}`],
      stdin: "null",
      stdout: "null",
    }).spawn();
  }

  /** Kills every process below the root, then removes all directories, deepest first. */
  async cleanup(): Promise<void> {
    if (!isDirectory(this.path)) return;
    try {
      Deno.writeTextFileSync(this.path + "/cgroup.kill", "1");
    } catch {
      // cgroup.kill missing (old kernel): kill listed pids one by one
      for (const dir of this.#walk(this.path)) {
        for (const pid of Deno.readTextFileSync(dir + "/cgroup.procs").split("\n")) {
          if (pid) kill(Number(pid), 9);
        }
      }
    }
    await waitFor(
      () => Deno.readTextFileSync(this.path + "/cgroup.events").includes("populated 0"),
      "test cgroups to empty",
    );
    // find -delete: byte-exact names (not UTF-8) and paths past PATH_MAX
    for (let attempt = 0;; attempt++) {
      const out = await new Deno.Command("find", {
        args: [this.path, "-depth", "-type", "d", "-delete"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!isDirectory(this.path)) return;
      if (attempt >= 50) throw new Error(`cleanup: ${new TextDecoder().decode(out.stderr)}`);
      await sleep(20);
    }
  }

  /** Pre-order list of directories at and below dir. */
  #walk(dir: string): string[] {
    const out = [dir];
    for (const name of subdirectories(dir)) out.push(...this.#walk(`${dir}/${name}`));
    return out;
  }
}
