const marks: Record<string, number[]> = {};
let t0 = 0;
export function mark(what: string) {
  if (!Deno.env.get("PROF")) return;
  const now = performance.now();
  if (what === "A") t0 = now;
  (marks[what] ??= []).push(now - t0);
  if (what === "D" && marks.D.length % 400 === 0) {
    const out: string[] = [];
    for (const [k, v] of Object.entries(marks)) {
      if (!v.length) continue;
      const s = [...v].sort((a, b) => a - b);
      out.push(
        `${k} p50=${s[s.length >> 1].toFixed(3)} p90=${s[Math.floor(s.length * 0.9)].toFixed(3)}`,
      );
    }
    console.error(out.join(" | "));
    for (const k in marks) marks[k] = [];
  }
}
