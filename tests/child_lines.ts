// Lines of a child's output as they arrive, for tests that watch a daemon.

/** Collects a stream's complete lines into `lines` while it is open. */
export function collectLines(
  stream: ReadableStream<Uint8Array>,
): { lines: string[]; done: Promise<void> } {
  const lines: string[] = [];
  let partial = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      partial += chunk;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { lines, done };
}
