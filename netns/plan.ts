// The commands behind `up`, each with the command that undoes it. Pure data,
// so the order and the rollback can be tested without root.
import { INNER_NAME, peerName } from "./name.ts";

export interface Step {
  /** The command (argv[0] is looked up in PATH). */
  argv: string[];
  /** Undoes this step; steps without one are undone by an earlier step's undo. */
  undo?: string[];
  /** Lets the command's output through (the setup script's messages belong in the journal). */
  inheritOutput?: boolean;
}

export function upPlan(name: string, setupScript: string): Step[] {
  const peer = peerName(name);
  return [
    { argv: ["ip", "netns", "add", name], undo: ["ip", "netns", "delete", name] },
    {
      argv: ["ip", "link", "add", name, "type", "veth", "peer", "name", peer],
      // Deleting one end removes the other, wherever it has moved.
      undo: ["ip", "link", "delete", name],
    },
    { argv: ["ip", "link", "set", peer, "netns", name] },
    { argv: ["ip", "-n", name, "link", "set", peer, "name", INNER_NAME] },
    { argv: ["ip", "-n", name, "link", "set", INNER_NAME, "up"] },
    { argv: ["ip", "netns", "exec", name, setupScript, INNER_NAME], inheritOutput: true },
  ];
}

/** Shows argv the way a shell user would type it. */
export function formatCommand(argv: string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}
