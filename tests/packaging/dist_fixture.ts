// Builds a dist/ into a temporary directory (never the repository's dist/,
// which a developer may be using) and runs programs with nothing cached.
import { buildDist, type Manifest } from "../../packaging/dist.ts";
export { filesBelow } from "../../packaging/files_below.ts";

const decoder = new TextDecoder();

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  argv: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Output> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.env !== undefined,
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A dist/ built into a temp dir, removed after body. */
export async function withDist(
  body: (dist: string, manifest: Manifest, tmp: string) => void | Promise<void>,
): Promise<void> {
  const tmp = Deno.makeTempDirSync({ prefix: "spawn-packaging-" });
  try {
    const dist = `${tmp}/dist`;
    const manifest = await buildDist(dist, () => {});
    await body(dist, manifest, tmp);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}

/**
 * An environment with nothing to fall back on: HOME, DENO_DIR, XDG caches and
 * the npm cache are empty directories below dir (checked afterwards).
 */
export function emptyEnvironment(dir: string): Record<string, string> {
  const env: Record<string, string> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
  for (
    const [key, sub] of [["HOME", "home"], ["DENO_DIR", "deno"], ["XDG_CACHE_HOME", "xdg"], [
      "npm_config_cache",
      "npm",
    ]]
  ) {
    env[key] = `${dir}/${sub}`;
    Deno.mkdirSync(env[key], { recursive: true });
  }
  return env;
}

/** An on-demand import of a literal specifier: import("x"). */
export const LITERAL_DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Specifiers of a bundle's on-demand imports: import("x") and import(new URL("x", import.meta.url).href). */
export function dynamicImportSpecifiers(code: string): string[] {
  const patterns = [
    LITERAL_DYNAMIC_IMPORT,
    /\bimport\(\s*new URL\(\s*"([^"]+)",\s*import\.meta\.url\)\.href\s*\)/g,
  ];
  return [...new Set(patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1])))];
}

/** Static and dynamic import specifiers left in a bundle. */
export function importSpecifiers(code: string): string[] {
  const found = new Set<string>(dynamicImportSpecifiers(code));
  const patterns = [
    /^\s*import\s+(?:[^'"`;]*?\s+from\s+)?["']([^"']+)["']/gm,
    /^\s*export\s+[^'"`;]*?\s+from\s+["']([^"']+)["']/gm,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.add(m[1]);
  return [...found];
}
