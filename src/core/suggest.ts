/** "Did you mean …?": edit distance between what was typed and what exists. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The candidates closest to `typed` (at most `limit`), within a distance that still looks like a typo. */
export function closest(typed: string, candidates: readonly string[], limit = 1): string[] {
  const t = typed.toLowerCase();
  const max = Math.max(2, Math.floor(t.length / 3));
  return candidates
    .map((c) => ({
      c,
      d: c.toLowerCase().startsWith(t) && t.length >= 3 ? 0 : editDistance(t, c.toLowerCase()),
    }))
    .filter((x) => x.d <= max)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, limit)
    .map((x) => x.c);
}
