/** Exponential backoff settings. */
export interface BackoffPolicy {
  /** Ceiling of the first delay. */
  initialMs: number;
  /** No delay is ever longer than this. */
  maxMs: number;
}

/**
 * "Full jitter" exponential backoff: a uniformly random delay between 0 and
 * `min(maxMs, initialMs · 2^(attempt-1))`. Spreading retries over the whole window is what keeps
 * many clients that failed together from retrying together.
 *
 * @param attempt 1 for the first retry.
 * @param random a uniform source in [0, 1).
 * @example fullJitter(3, { initialMs: 500, maxMs: 60_000 }, Math.random) // somewhere in [0, 2000)
 */
export function fullJitter(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
