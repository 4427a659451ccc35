// Parsers for option values, usable with and without commander: they throw
// an error commander reports like its own InvalidArgumentError (it looks at
// the code), so a program that parses its command line itself on the common
// path (accessory/options.ts) does not have to load commander.

/** A bad option value; commander prints "option '…' argument '…' is invalid. MESSAGE". */
export class OptionValueError extends Error {
  readonly code = "commander.invalidArgument";
  readonly exitCode = 1;
  override name = "OptionValueError";
}

/** An option parser for non-negative numbers, e.g. `--namespace-ttl 60`. */
export function nonNegativeNumber(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw new OptionValueError(`${option} wants a non-negative number, not '${value}'`);
    }
    return n;
  };
}

/** An option parser for positive integers, e.g. `--max-names 10000`. */
export function positiveInteger(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new OptionValueError(`${option} wants a positive integer, not '${value}'`);
    }
    return n;
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
