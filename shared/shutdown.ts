import { logNotice } from "./log.ts";

/**
 * On the first of the given signals: log it, run stop() once (later signals
 * are ignored while it runs), then exit 0.
 */
export function exitOnSignals(signals: Deno.Signal[], stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of signals) {
    Deno.addSignalListener(signal, async () => {
      if (stopping) return;
      stopping = true;
      logNotice(`${signal}: shutting down`);
      await stop();
      Deno.exit(0);
    });
  }
}
