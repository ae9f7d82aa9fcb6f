import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `probe` until `done(value)` holds and returns that value; throws after `timeoutMs` with
 * the last value. For conditions only a request can observe (REST, /metrics), in hooks where
 * `expect.poll` is not available.
 *
 * @example const jobs = await eventually(listJobs, (jobs) => jobs.every(isFinished), { timeoutMs: 30_000, what: 'every job to finish' });
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs, intervalMs = 50, what }: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last seen ${JSON.stringify(value).slice(0, 2000)}`);
    await sleep(intervalMs);
  }
}
