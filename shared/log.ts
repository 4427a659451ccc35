// One line per event on stderr. Under journald (JOURNAL_STREAM set) each line
// carries a sd-daemon "<N>" priority prefix, so `journalctl -p` filters work.

const encoder = new TextEncoder();
const PRIORITY = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Priority = keyof typeof PRIORITY;

const useJournalPrefix = () => Deno.env.get("JOURNAL_STREAM") !== undefined;

/** Writes all of text to a Deno file synchronously (partial writes retried). */
export function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

/** Prefixes every line of message; newlines inside become separate lines. */
export function formatLogLine(priority: Priority, message: string, journal: boolean): string {
  const prefix = journal ? `<${PRIORITY[priority]}>` : "";
  return message.split("\n").map((line) => prefix + line).join("\n") + "\n";
}

export function log(priority: Priority, message: string): void {
  writeAllSync(Deno.stderr, formatLogLine(priority, message, useJournalPrefix()));
}

export const logError = (message: string) => log("error", message);
export const logWarning = (message: string) => log("warning", message);
export const logNotice = (message: string) => log("notice", message);
export const logInfo = (message: string) => log("info", message);

/** The message of any thrown value, for log lines. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
