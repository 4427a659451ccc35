// Which NAMEs cm4all-spawn-netns accepts. NAME is both the namespace name
// (a file in /run/netns) and the host-side veth name, and NAME_peer must fit
// the kernel's interface name limit, so it is checked before anything exists.

/** IFNAMSIZ is 16 including the terminating NUL. */
export const MAX_INTERFACE_NAME_BYTES = 15;
export const PEER_SUFFIX = "_peer";
/** The peer's name inside the namespace. */
export const INNER_NAME = "net0";

const MAX_NAME_BYTES = MAX_INTERFACE_NAME_BYTES - PEER_SUFFIX.length;

export function peerName(name: string): string {
  return name + PEER_SUFFIX;
}

/** Why NAME is unusable, or undefined if it is fine. */
export function nameProblem(name: string): string | undefined {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) return "NAME must not be empty";
  if (bytes > MAX_NAME_BYTES) {
    return `NAME '${name}' is ${bytes} bytes; at most ${MAX_NAME_BYTES} leave room for ` +
      `'${PEER_SUFFIX}' in the ${MAX_INTERFACE_NAME_BYTES}-byte interface name limit`;
  }
  // The kernel's dev_valid_name() rejects these; "-" would read as an option to ip.
  if (name === "." || name === "..") return `NAME '${name}' is not a valid interface name`;
  if (/[/:\s]/u.test(name)) {
    return `NAME '${name}' must not contain '/', ':' or whitespace`;
  }
  if (name.startsWith("-")) return `NAME '${name}' must not start with '-'`;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) {
    return `NAME ${JSON.stringify(name)} contains control characters`;
  }
  return undefined;
}
