import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { apiKeyMiddleware } from '../../../src/simulators/kit/api-key-middleware.js';

function app(expected: string): Hono {
  const a = new Hono();
  a.use('/api/*', apiKeyMiddleware({ header: 'x-key', expected, unauthorized: (c, reason) => c.json({ reason }, 401) }));
  a.get('/api/ping', (c) => c.text('pong'));
  a.get('/open', (c) => c.text('open'));
  return a;
}

describe('apiKeyMiddleware', () => {
  it('lets through only the exact expected header value', async () => {
    const res = await app('Bearer k').request('/api/ping', { headers: { 'x-key': 'Bearer k' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('pong');
  });

  it('tells a missing or empty key from a wrong one', async () => {
    const a = app('k');
    const reasons = await Promise.all(
      [{}, { 'x-key': '' }, { 'x-key': 'other' }, { 'x-key': 'K' }].map(async (headers) => {
        const res = await a.request('/api/ping', { headers });
        expect(res.status).toBe(401);
        return ((await res.json()) as { reason: string }).reason;
      }),
    );
    expect(reasons).toEqual(['missing', 'missing', 'invalid', 'invalid']);
  });

  it('leaves routes outside its path alone', async () => {
    const res = await app('k').request('/open');
    expect(res.status).toBe(200);
  });
});
