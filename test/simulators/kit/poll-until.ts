/**
 * Calls `probe` until `done(value)` holds, at most `attempts` times with `intervalMs` between
 * calls; returns every value seen. Throws when the condition never holds. For tests that poll
 * a simulator endpoint rather than sleeping.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { attempts = 400, intervalMs = 5 }: { attempts?: number; intervalMs?: number } = {},
): Promise<T[]> {
  const seen: T[] = [];
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    seen.push(value);
    if (done(value)) return seen;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`condition not reached after ${attempts} attempts; last value ${JSON.stringify(seen.at(-1))}`);
}
