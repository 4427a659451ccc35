// Splits a child's output into whole lines, so that two daemons can share a
// terminal with a "[name]" prefix on every line. Pure: chunks in, lines out.

export class LineSplitter {
  #pending = "";

  /** The lines completed by chunk, without their "\n". */
  push(chunk: string): string[] {
    const text = this.#pending + chunk;
    const end = text.lastIndexOf("\n");
    if (end < 0) {
      this.#pending = text;
      return [];
    }
    this.#pending = text.slice(end + 1);
    return text.slice(0, end).split("\n");
  }

  /** A last line without a newline, when the stream ends. */
  flush(): string[] {
    const rest = this.#pending;
    this.#pending = "";
    return rest === "" ? [] : [rest];
  }
}

/** "[name]", in a colour when writing to a terminal that wants colours. */
export function prefixFor(name: string, colour: number | undefined): string {
  return colour === undefined ? `[${name}]` : `\x1b[${colour}m[${name}]\x1b[0m`;
}

export function prefixLines(prefix: string, lines: string[]): string {
  return lines.map((line) => `${prefix} ${line}\n`).join("");
}
