/**
 * How big the reliability suite runs. CI runs the reduced size; `JOBSTREAM_RELIABILITY=full`
 * runs the large one (locally or in a nightly job).
 *
 * @example const cycles = sized({ ci: 50, full: 200 });
 */
export const FULL_RELIABILITY = process.env.JOBSTREAM_RELIABILITY === 'full';

/** The CI size, or the full size under `JOBSTREAM_RELIABILITY=full`. */
export function sized(sizes: { ci: number; full: number }): number {
  return FULL_RELIABILITY ? sizes.full : sizes.ci;
}

/** Prints one line of measurements (sizes, timings) to the test output. */
export function report(suite: string, facts: Record<string, string | number>): void {
  const text = Object.entries(facts)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  process.stdout.write(`[reliability:${suite}] ${text}\n`);
}
