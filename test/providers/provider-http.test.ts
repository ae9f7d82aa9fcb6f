import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { callProvider, createDispatcher, MAX_ANSWER_BYTES } from '../../src/providers/provider-http.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Stops even if the client reads on (the code before the cap did): 16 MiB, twice the default cap. */
const SAFETY_BYTES = 16 * 1024 * 1024;

/**
 * A server whose every answer is a JSON array that goes on and on (up to {@link SAFETY_BYTES}),
 * without Content-Length. `ended` tells whether it got to the end; `closed` settles when the
 * client hangs up or the answer ends.
 */
async function endlessJsonServer(status: number): Promise<{ url: string; closed: () => Promise<void>; ended: () => boolean }> {
  let ended = false;
  let closed: Promise<void> = Promise.resolve();
  const server = createServer((_req, res: ServerResponse) => {
    closed = once(res, 'close').then(() => undefined);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.write('[');
    const chunk = Buffer.from('0,'.repeat(32 * 1024));
    let sent = 0;
    const pump = (): void => {
      while (!res.destroyed && sent < SAFETY_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) {
        ended = true;
        res.end('0]');
      }
    };
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/record`, closed: () => closed, ended: () => ended };
}

async function fixedServer(body: Buffer): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/record`;
}

function dispatcher() {
  const agent = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  cleanups.push(() => agent.destroy());
  return agent;
}

describe('callProvider: bounded answers (issue #10: a hostile endpoint cannot exhaust memory)', () => {
  it('rejects an endless 2xx answer as invalid-response past the 8 MiB default and hangs up instead of reading on', async () => {
    const server = await endlessJsonServer(200);
    // Settled to a small value: a test failure must not print megabytes.
    const outcome = await callProvider('klangio', dispatcher(), { method: 'GET', url: server.url, signal: AbortSignal.timeout(10_000) }).then(
      (answer) => `answered with ${answer.body.length} bytes`,
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({ failure: 'invalid-response', message: `klangio: GET /record answered more than ${MAX_ANSWER_BYTES} bytes (maxAnswerBytes)` });
    await server.closed();
    expect(server.ended()).toBe(false);
  });

  it('reads an error answer only as far as its message needs: an endless 500 fails fast as unavailable', async () => {
    const server = await endlessJsonServer(500);
    const outcome = await callProvider('klangio', dispatcher(), { method: 'GET', url: server.url, signal: AbortSignal.timeout(10_000) }).then(
      () => 'answered',
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({ failure: 'unavailable', status: 500 });
    expect((outcome as Error).message.length).toBeLessThan(300);
    await server.closed();
    expect(server.ended()).toBe(false);
  });

  it('takes an answer of exactly maxAnswerBytes and refuses one byte more (by Content-Length, unread)', async () => {
    const at = await fixedServer(Buffer.from(`[${'1'.repeat(1022)}]`));
    const answer = await callProvider('musicai', dispatcher(), { method: 'GET', url: at, signal: AbortSignal.timeout(5000), maxAnswerBytes: 1024 });
    expect(answer.body.length).toBe(1024);
    const over = await fixedServer(Buffer.from(`[${'1'.repeat(1023)}]`));
    await expect(callProvider('musicai', dispatcher(), { method: 'GET', url: over, signal: AbortSignal.timeout(5000), maxAnswerBytes: 1024 })).rejects.toMatchObject({
      failure: 'invalid-response',
      status: 200,
    });
  });
});

/** A server that answers every request with `status` and `headers` and a small JSON body. */
async function answeringServer(status: number, headers: Record<string, string>): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end('{"detail":"slow down"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/record`;
}

// Retry-After parsing itself is tested in retry-after.test.ts; here: that every adapter's shared
// failure path hands it on, measured from the time of the answer.
describe('callProvider: Retry-After on failures', () => {
  it('passes delay-seconds through as retryAfterMs on a 429 and a 503', async () => {
    const limited = await answeringServer(429, { 'retry-after': '4' });
    await expect(callProvider('cambai', dispatcher(), { method: 'POST', url: limited, signal: AbortSignal.timeout(5000) })).rejects.toMatchObject({
      failure: 'rate-limited',
      status: 429,
      retryAfterMs: 4000,
    });
    const down = await answeringServer(503, { 'retry-after': '9' });
    await expect(callProvider('cambai', dispatcher(), { method: 'GET', url: down, signal: AbortSignal.timeout(5000) })).rejects.toMatchObject({
      failure: 'unavailable',
      status: 503,
      retryAfterMs: 9000,
    });
  });

  it('reads an HTTP-date Retry-After relative to now', async () => {
    const at = await answeringServer(429, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const error = (await callProvider('musicai', dispatcher(), { method: 'POST', url: at, signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e)) as {
      retryAfterMs?: number;
    };
    // An HTTP date has whole seconds, and a moment passes before the answer is read.
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });
});
