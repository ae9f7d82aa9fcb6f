import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, MiddlewareHandler } from 'hono';
import type { FaultProfile } from './fault-profile.js';
import type { Random } from './seeded-random.js';
import { pick } from './seeded-random.js';

/** Options of {@link faultMiddleware}. */
export interface FaultMiddlewareOptions {
  /** Current fault profile; a getter so knobs can change while the server runs. */
  faults: () => FaultProfile;
  random: Random;
  /** The API key of a request (the rate-limit bucket); `undefined` means "not rate limited". */
  keyOf: (c: Context) => string | undefined;
  /** Builds the provider's rate-limit answer; must set `Retry-After` to `retryAfterSeconds`. */
  rateLimited: (c: Context, retryAfterSeconds: number) => Response;
  /** Builds the provider's server-error answer with the drawn status (500, 502 or 503). */
  serverError: (c: Context, status: 500 | 502 | 503) => Response;
  /** Clock for the rate-limit windows. @default Date.now */
  now?: () => number;
}

/**
 * A hono middleware applying the request-side faults of a {@link FaultProfile}, in this
 * order: latency (and, with `slowRate`, an extra `slowMs`), the fixed-window rate limit per
 * API key, then random 500/502/503 answers. A refused request never reaches the handler, so
 * it has no side effect (no job is created).
 *
 * @example
 * app.use('*', faultMiddleware({
 *   faults: () => profile, random,
 *   keyOf: (c) => c.req.header('kl-api-key'),
 *   rateLimited: (c, s) => c.json({ detail: 'Too many requests' }, 429, { 'Retry-After': String(s) }),
 *   serverError: (c, status) => c.json({ detail: 'Internal error' }, status),
 * }));
 */
export function faultMiddleware(opts: FaultMiddlewareOptions): MiddlewareHandler {
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { startedAt: number; count: number }>();
  return async (c, next) => {
    const faults = opts.faults();
    const { min, max } = faults.latencyMs;
    let delay = max > 0 ? min + (max - min) * opts.random() : 0;
    if (faults.slowRate > 0 && opts.random() < faults.slowRate) delay += faults.slowMs;
    // Unref'd so a pending slow answer never keeps a finished test process alive.
    if (delay > 0) await sleep(delay, undefined, { ref: false });

    const limit = faults.rateLimit;
    const key = opts.keyOf(c);
    if (limit !== null && key !== undefined) {
      const t = now();
      let window = windows.get(key);
      if (window === undefined || t - window.startedAt >= limit.windowMs) {
        window = { startedAt: t, count: 0 };
        windows.set(key, window);
      }
      window.count += 1;
      if (window.count > limit.limit) return opts.rateLimited(c, limit.retryAfterSeconds);
    }

    if (faults.serverErrorRate > 0 && opts.random() < faults.serverErrorRate) {
      return opts.serverError(c, pick(opts.random, [500, 502, 503] as const));
    }
    await next();
    return undefined;
  };
}
