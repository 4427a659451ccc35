// All or nothing: runs steps in order; when one fails (or the run is
// aborted), runs the undo commands of the steps already done, newest first.
import type { Step } from "./plan.ts";

/** Runs one command; resolves to an error message, or undefined on success. */
export type Execute = (
  argv: string[],
  options: { inheritOutput: boolean; signal?: AbortSignal },
) => Promise<string | undefined>;

export interface Outcome {
  /** Why the run failed, or undefined if every step succeeded. */
  error?: string;
  /** How many undo commands ran. */
  undone: number;
  /** Undo commands that failed in turn (the system may be left half set up). */
  undoErrors: string[];
}

export async function runAllOrNothing(
  steps: Step[],
  execute: Execute,
  signal?: AbortSignal,
): Promise<Outcome> {
  const done: Step[] = [];
  let error: string | undefined;
  for (const step of steps) {
    if (signal?.aborted) {
      error = String(signal.reason ?? "aborted");
      break;
    }
    error = await execute(step.argv, { inheritOutput: step.inheritOutput ?? false, signal });
    if (error !== undefined) break;
    done.push(step);
  }
  const undoErrors: string[] = [];
  let undone = 0;
  if (error === undefined) return { undone, undoErrors };
  for (const step of done.reverse()) {
    if (!step.undo) continue;
    undone++;
    const undoError = await execute(step.undo, { inheritOutput: false });
    if (undoError !== undefined) undoErrors.push(undoError);
  }
  return { error, undone, undoErrors };
}
