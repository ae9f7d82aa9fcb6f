/**
 * Edit distance between two strings (optimal string alignment): how many single-character
 * insertions, deletions, substitutions or swaps of neighbours turn one into the other.
 *
 * @example editDistance('wacth', 'watch') // 1
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: the distance between the first i characters of a and the first j of b.
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known name closest to `name` when it is close enough to be a typo of it, else
 * `undefined`. Case and `_`/`-` are ignored first (`KLANGIO_APIKEY` is `KLANGIO_API_KEY`);
 * then up to one edit in short names and two in names of eight characters or more.
 *
 * @example closestName('wacth', ['watch', 'jobs']) // 'watch'
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const squash = (text: string) => text.toLowerCase().replace(/[_-]/g, '');
  const wanted = squash(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(wanted, squash(candidate));
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= (wanted.length >= 8 ? 2 : 1) ? best.name : undefined;
}

/**
 * Environment variables that look like misspellings of the ones jobstream reads, each with the
 * name it probably meant. A variable that is spelt right, or is close to nothing, is left out.
 *
 * @example misspeltEnv({ KLANGIO_APIKEY: 'k' }, ['KLANGIO_API_KEY']) // [{ name: 'KLANGIO_APIKEY', meant: 'KLANGIO_API_KEY' }]
 */
export function misspeltEnv(env: Readonly<Record<string, string | undefined>>, known: readonly string[]): { name: string; meant: string }[] {
  const exact = new Set(known);
  return Object.keys(env)
    .filter((name) => !exact.has(name))
    .map((name) => ({ name, meant: closestName(name, known) }))
    .filter((entry): entry is { name: string; meant: string } => entry.meant !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
