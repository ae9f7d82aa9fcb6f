import { Hono } from 'hono';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../../src/simulators/kit/listen.js';
import type { Listening } from '../../../src/simulators/kit/listen.js';

let server: Listening | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('listen', () => {
  it('serves an app on 127.0.0.1 with a free port and a URL without a trailing slash', async () => {
    const app = new Hono().get('/ping', (c) => c.text('pong'));
    server = await listen(app);
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const res = await fetch(`${server.url}/ping`);
    expect(await res.text()).toBe('pong');
  });

  it('closes with an open keep-alive connection and an in-flight request, idempotently', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const app = new Hono()
      .get('/ping', (c) => c.text('pong'))
      .get('/hang', async () => {
        entered();
        return new Promise<Response>(() => undefined);
      });
    server = await listen(app);
    const keepAlive = await request(`${server.url}/ping`);
    await keepAlive.body.text();
    const hanging = request(`${server.url}/hang`).then(
      () => 'answered',
      () => 'aborted',
    );
    await inHandler;
    const first = server.close();
    expect(server.close()).toBe(first);
    await first;
    expect(await hanging).toBe('aborted');
    await expect(fetch(`${server.url}/ping`)).rejects.toThrow();
  });
});
