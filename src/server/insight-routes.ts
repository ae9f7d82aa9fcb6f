import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Engine } from '../streams/engine.js';
import { parseRequest } from '../streams/engine-requests.js';
import { JobstreamError } from '../streams/errors.js';
import { HttpError } from './api-error.js';
import type { Access } from './auth.js';
import type { JobStats } from '../streams/job-stats.js';
import { readableFilter } from './scoped-tokens.js';

/** What the insight routes need. */
export interface InsightRoutesOptions {
  engine: Engine;
  /** How long a stats answer is reused for the same query. @default 2000 */
  statsCacheMs?: number;
  /** The clock of the cache. @default Date.now */
  now?: () => number;
}

/** A time: epoch milliseconds, or an ISO 8601 date. */
const Instant = z
  .string()
  .trim()
  .min(1)
  .transform((text, ctx) => {
    const ms = /^-?\d+$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isSafeInteger(ms)) {
      ctx.addIssue({ code: 'custom', message: 'not a time (epoch milliseconds or ISO 8601)' });
      return z.NEVER;
    }
    return ms;
  });

const StatsQuery = z.object({
  from: Instant.optional(),
  to: Instant.optional(),
  bucketMs: z
    .string()
    .regex(/^\d{1,15}$/, 'a whole number of milliseconds')
    .transform(Number)
    .optional(),
});

/** Answers kept at most: one per distinct query string. */
const CACHE_ENTRIES = 32;

/**
 * `GET /v1/stats/jobs` (stats computed from the stored jobs, so they survive restarts; the same
 * query is answered from a cache for `statsCacheMs`) and `GET /v1/providers/health` (per lane:
 * rate budget, Retry-After block, outage state, recent errors). Health needs the API token;
 * stats take a scoped read token too, and then count only the jobs of its scope.
 */
export function insightRoutes(options: InsightRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const { engine } = options;
  const cacheMs = options.statsCacheMs ?? 2000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; stats: JobStats }>();
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.get('/stats/jobs', (c) => {
    const raw = { from: c.req.query('from'), to: c.req.query('to'), bucketMs: c.req.query('bucketMs') };
    // A scoped token sees the stats of its own jobs only (computed for it, never cached).
    const access = c.get('access') as Access | undefined;
    const scoped = access?.type === 'scoped';
    const key = JSON.stringify(raw);
    const cached = scoped ? undefined : cache.get(key);
    if (cached !== undefined && now() - cached.at < cacheMs) return c.json(cached.stats);
    const query = parseRequest(StatsQuery, raw);
    const stats = engine.jobStats(
      {
        ...(query.from === undefined ? {} : { from: query.from }),
        ...(query.to === undefined ? {} : { to: query.to }),
        ...(query.bucketMs === undefined ? {} : { bucketMs: query.bucketMs }),
      },
      readableFilter(access, undefined),
    );
    if (scoped) return c.json(stats);
    cache.delete(key);
    cache.set(key, { at: now(), stats });
    if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    return c.json(stats);
  });

  app.get('/providers/health', async (c) => {
    try {
      return c.json({ lanes: await engine.providerHealth() });
    } catch (error) {
      // A cluster member that cannot read the shared lane state (Redis away): ours, not the caller's.
      if (error instanceof JobstreamError && error.code === 'POLL_SCHEDULE_FAILED') throw new HttpError(503, 'HEALTH_UNAVAILABLE', `lane health cannot be read: ${error.message}`);
      throw error;
    }
  });

  return app;
}
