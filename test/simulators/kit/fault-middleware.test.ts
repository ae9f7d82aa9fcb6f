import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { faultMiddleware } from '../../../src/simulators/kit/fault-middleware.js';
import { FaultProfile, mergeFaults } from '../../../src/simulators/kit/fault-profile.js';
import type { FaultProfilePatch } from '../../../src/simulators/kit/fault-profile.js';
import { listen } from '../../../src/simulators/kit/listen.js';
import type { Listening } from '../../../src/simulators/kit/listen.js';
import { createRandom } from '../../../src/simulators/kit/seeded-random.js';

let server: Listening | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(patch: FaultProfilePatch, now?: () => number) {
  let faults = mergeFaults(FaultProfile.parse({}), patch);
  let handled = 0;
  const app = new Hono();
  app.use(
    '*',
    faultMiddleware({
      faults: () => faults,
      random: createRandom(5),
      keyOf: (c) => c.req.header('x-key'),
      rateLimited: (c, s) => c.json({ error: 'slow down' }, 429, { 'Retry-After': String(s) }),
      serverError: (c, status) => c.json({ error: 'boom' }, status),
      ...(now === undefined ? {} : { now }),
    }),
  );
  app.get('/x', (c) => {
    handled += 1;
    return c.json({ ok: true });
  });
  server = await listen(app);
  const url = server.url;
  return {
    get: (key?: string) => fetch(`${url}/x`, key === undefined ? {} : { headers: { 'x-key': key } }),
    set: (p: FaultProfilePatch) => (faults = mergeFaults(faults, p)),
    handled: () => handled,
  };
}

describe('faultMiddleware', () => {
  it('passes requests through without faults', async () => {
    const s = await start({});
    const res = await s.get('k');
    expect(res.status).toBe(200);
    expect(s.handled()).toBe(1);
  });

  it('answers 5xx from the provider maker without reaching the handler', async () => {
    const s = await start({ serverErrorRate: 1 });
    const statuses = await Promise.all(Array.from({ length: 30 }, () => s.get('k').then((r) => r.status)));
    expect(statuses.every((st) => [500, 502, 503].includes(st))).toBe(true);
    expect(new Set(statuses).size).toBeGreaterThan(1);
    expect(s.handled()).toBe(0);
    s.set({ serverErrorRate: 0 });
    expect((await s.get('k')).status).toBe(200);
  });

  it('rate-limits per key in a fixed window with Retry-After, and resets with the window', async () => {
    let clock = 1_000;
    const s = await start({ rateLimit: { limit: 2, windowMs: 1000, retryAfterSeconds: 7 } }, () => clock);
    expect((await s.get('a')).status).toBe(200);
    expect((await s.get('a')).status).toBe(200);
    const refused = await s.get('a');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('7');
    expect((await s.get('b')).status).toBe(200);
    expect((await s.get()).status).toBe(200);
    clock += 1000;
    expect((await s.get('a')).status).toBe(200);
    expect(s.handled()).toBe(5);
  });

  it('adds latency and slow answers', async () => {
    const s = await start({ latencyMs: { min: 40, max: 60 } });
    let t = performance.now();
    await s.get('k');
    expect(performance.now() - t).toBeGreaterThanOrEqual(38);
    s.set({ latencyMs: { min: 0, max: 0 }, slowRate: 1, slowMs: 80 });
    t = performance.now();
    await s.get('k');
    expect(performance.now() - t).toBeGreaterThanOrEqual(78);
  });
});
