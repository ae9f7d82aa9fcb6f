/** A measured system: one run gives one sample. */
export type Measure<T> = (round: number) => Promise<T>;

/** How many rounds, and where progress lines go. */
export interface InterleaveOptions {
  rounds: number;
  /** Runs one unrecorded A B pair first (JIT, caches, lazy allocations). @default true */
  warmup?: boolean;
  log?: (line: string) => void;
  label?: string;
  /** How a sample is shown in the progress line. @default compact JSON */
  show?: (sample: unknown) => string;
}

/**
 * Runs the engine (A) and its baseline (B) alternately, A B A B …, so that both see the same
 * drift of a noisy machine, and returns every recorded sample of each.
 *
 * @example
 * const { a, b } = await interleave({ rounds: 5 }, () => engineRun(), () => bareRun());
 * const ratio = median(a) / median(b);
 */
export async function interleave<A, B>(options: InterleaveOptions, a: Measure<A>, b: Measure<B>): Promise<{ a: A[]; b: B[] }> {
  const out: { a: A[]; b: B[] } = { a: [], b: [] };
  if (options.warmup ?? true) {
    await a(-1);
    await b(-1);
  }
  for (let round = 0; round < options.rounds; round++) {
    out.a.push(await a(round));
    out.b.push(await b(round));
    const show = options.show ?? brief;
    options.log?.(`${options.label ?? ''} round ${round + 1}/${options.rounds}: A ${show(out.a.at(-1))} | B ${show(out.b.at(-1))}`);
  }
  return out;
}

function brief(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v));
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
