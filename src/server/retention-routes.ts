import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Engine } from '../streams/engine.js';
import type { RetentionStatus } from '../streams/retention.js';

/** What the retention route needs. */
export interface RetentionRoutesOptions {
  engine: Engine;
}

/**
 * `GET /v1/retention` (API token): the retention policy and what its sweeps did, as a
 * {@link RetentionStatus}: `{ retainDays, lastSweepAt, removedTotal, oldestKeptFinishedAt }`.
 * `retainDays` is `null` when jobs are kept forever (no `JOBSTREAM_RETAIN_DAYS`);
 * `removedTotal` counts the jobs this process removed since it started.
 *
 * @example
 * curl -s $JS/v1/retention -H "authorization: Bearer $TOKEN"
 * // {"retainDays":30,"lastSweepAt":1767225600000,"removedTotal":412,"oldestKeptFinishedAt":1764633600000}
 */
export function retentionRoutes(options: RetentionRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.get('/retention', (c) => c.json(options.engine.retention satisfies RetentionStatus));
  return app;
}
