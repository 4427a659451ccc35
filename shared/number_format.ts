// Numbers as people read them in status lines: 1,203,344.

/** Groups the digits of an integer in threes with commas. */
export function groupDigits(n: number): string {
  const sign = n < 0 ? "-" : "";
  const digits = String(Math.trunc(Math.abs(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "1 name", "2 names" (plural with s). */
export function count(n: number, singular: string, plural = singular + "s"): string {
  return `${groupDigits(n)} ${n === 1 ? singular : plural}`;
}
