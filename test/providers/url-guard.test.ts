import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createKlangioAdapter, type KlangioAdapterOptions } from '../../src/providers/klangio/klangio-adapter.js';
import { startKlangioSimulator } from '../../src/simulators/klangio/klangio-simulator.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { wavFile } from '../../src/simulators/kit/media.js';
import { createSunoapiAdapter } from '../../src/providers/sunoapi/sunoapi-adapter.js';
import { startSunoapiSimulator } from '../../src/simulators/sunoapi/sunoapi-simulator.js';
import { isPublicAddress } from '../../src/providers/url-guard.js';
import { loadServerConfig } from '../../src/server/server-config.js';
import { createEngine, type EngineEvent } from '../../src/streams/engine.js';
import type { JobChange } from '../../src/streams/job-change.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { eventually } from '../reliability/eventually.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real HTTP server on `host`, port 0, that counts the requests it gets. */
async function recordingServer(handle: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<{ origin: string; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits += 1;
    handle(req, res);
  });
  server.listen(0, host);
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  return { origin: `http://${host}:${port}`, port, hits: () => hits };
}

const serveWav = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'audio/wav' });
  res.end(wavFile({ seconds: 0.05 }));
};

/** An engine with the Klangio adapter on its simulator (no webhooks: the create call is what matters). */
async function klangio(options: Partial<KlangioAdapterOptions> = {}) {
  const sim = await startKlangioSimulator({ speed: 200, seed: 5 });
  cleanups.push(() => sim.close());
  const dispatcher = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  cleanups.push(() => dispatcher.close());
  const adapter = createKlangioAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, ...options });
  const engine = await createEngine({ providers: [adapter], store: new MemoryStore() });
  cleanups.push(() => engine.close());
  const submit = (url: string) => engine.submit({ provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url } });
  return { sim, engine, submit };
}

/** 127.0.0.2 stands in for a public host: loopback on Linux, classified public by this hook only. */
const PUBLIC_STAND_IN = '127.0.0.2';
const standInIsPublic = { isAllowedAddress: (address: string) => address === PUBLIC_STAND_IN || isPublicAddress(address) };

describe('URL guard: URLs from outside (issue #10 point 4, server-side request forgery)', () => {
  it('refuses a Klangio URL input on 127.0.0.1 and never contacts that server (SSRF to loopback)', async () => {
    const target = await recordingServer(serveWav);
    const { submit } = await klangio();
    const job = await submit(`${target.origin}/take.wav`);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'URL_REFUSED' });
    expect(job.error?.message).toMatch(/not a public internet address/);
    expect(job.externalId).toBeNull();
    expect(target.hits()).toBe(0);
  });

  it('refuses a host name that resolves to loopback (http://localhost:<port>), checked after DNS resolution', async () => {
    const target = await recordingServer(serveWav);
    const { submit } = await klangio();
    const job = await submit(`http://localhost:${target.port}/take.wav`);
    expect(job.error).toMatchObject({ code: 'URL_REFUSED' });
    expect(target.hits()).toBe(0);
  });

  it('refuses a redirect from a public host to loopback, checking every hop (redirect SSRF)', async () => {
    const inner = await recordingServer(serveWav);
    const outer = await recordingServer((_req, res) => {
      res.writeHead(302, { location: `${inner.origin}/secret` });
      res.end('moved');
    }, PUBLIC_STAND_IN);
    const { submit } = await klangio({ urlGuard: standInIsPublic });
    const job = await submit(`${outer.origin}/take.wav`);
    expect(job.error).toMatchObject({ code: 'URL_REFUSED' });
    expect(job.error?.message).not.toContain('moved');
    expect(outer.hits()).toBe(1);
    expect(inner.hits()).toBe(0);
  });

  it('follows a redirect between public hosts (a share link that redirects to the file)', async () => {
    const server = await recordingServer((req, res) => {
      if (req.url === '/share/abc') {
        res.writeHead(302, { location: '/files/take.wav' });
        res.end();
      } else serveWav(req, res);
    }, PUBLIC_STAND_IN);
    const { submit } = await klangio({ urlGuard: standInIsPublic });
    const job = await submit(`${server.origin}/share/abc`);
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    expect(server.hits()).toBe(2);
  });

  it('lets loopback through with JOBSTREAM_ALLOW_PRIVATE_URLS=true (allowPrivateUrls), and only then', async () => {
    expect(loadServerConfig({}).allowPrivateUrls).toBe(false);
    expect(loadServerConfig({ JOBSTREAM_ALLOW_PRIVATE_URLS: 'true' }).allowPrivateUrls).toBe(true);
    expect(() => loadServerConfig({ JOBSTREAM_ALLOW_PRIVATE_URLS: 'yes please' })).toThrow(/JOBSTREAM_ALLOW_PRIVATE_URLS must be one of true, false/);
    const target = await recordingServer(serveWav);
    const { submit } = await klangio({ allowPrivateUrls: loadServerConfig({ JOBSTREAM_ALLOW_PRIVATE_URLS: 'true' }).allowPrivateUrls });
    const job = await submit(`${target.origin}/take.wav`);
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    expect(target.hits()).toBe(1);
  });

  it('keeps the answer body and the URL credentials and token of a failed input download out of job.error', async () => {
    const target = await recordingServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('SECRET-BODY internal stack trace');
    });
    const { submit } = await klangio({ allowPrivateUrls: true });
    const job = await submit(`http://alice:pa55word@127.0.0.1:${target.port}/in.wav?token=tok-123`);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'INPUT_DOWNLOAD_FAILED' });
    const message = job.error?.message ?? '';
    expect(message).toContain(`127.0.0.1:${target.port} answered 500`);
    for (const secret of ['SECRET-BODY', 'alice', 'pa55word', 'tok-123']) expect(message).not.toContain(secret);
  });

  it.each([
    ['93.184.215.14', true],
    ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', true],
    ['64:ff9b::5db8:d70e', true], // NAT64 of a public IPv4 address
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.16.5.4', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false], // cloud metadata
    ['100.64.0.1', false], // carrier-grade NAT
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false], // IPv4-mapped loopback
    ['::ffff:a9fe:a9fe', false], // IPv4-mapped metadata
    ['fd00:ec2::254', false], // AWS metadata over IPv6 (unique local)
    ['fc00::1', false],
    ['fe80::1', false],
    ['ff02::1', false],
    ['64:ff9b::7f00:1', false], // NAT64 of loopback
    ['2002:a00:1::1', false], // 6to4 of 10.0.0.1
    ['not-an-ip', false],
  ])('classifies %s as public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('sunoapi result URLs from webhooks (issue #10 point 4: a forged vocal_url)', () => {
  const forged = (taskId: string, url: string) => ({
    code: 200,
    msg: 'vocal Removal generated successfully.',
    data: { task_id: taskId, vocal_removal_info: { instrumental_url: url, origin_url: url, vocal_url: url } },
  });

  it('does not take a webhook result URL on a foreign host; it reports running and asks for a poll', () => {
    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    const adapter = createSunoapiAdapter({ apiKey: 'k', dispatcher });
    expect(adapter.parseWebhook!({ body: forged('t1', 'http://127.0.0.1:1/stolen.mp3'), headers: {} })).toEqual({
      externalId: 't1',
      report: { status: 'running', providerStatus: 'SUCCESS' },
      confirm: true,
    });
    // Nor URLs on the documented file hosts: a separation callback never sets the result (it
    // lacks the record's originData), the confirming poll does.
    const own = 'https://tempfile.aiquickdraw.com/v/94322944_vocal.mp3';
    expect(adapter.parseWebhook!({ body: forged('t1', own), headers: {} })).toEqual({ externalId: 't1', report: { status: 'running', providerStatus: 'SUCCESS' }, confirm: true });
  });

  it('takes the result of a webhook with a foreign vocal_url from a confirming poll instead, and never fetches the forged URL', async () => {
    const stolen = await recordingServer((_req, res) => res.end('x'));
    // The simulator's own callbacks are dropped: the forged webhook is the only one.
    const sim = await startSunoapiSimulator({ speed: 200, seed: 3, faults: { webhook: { dropRate: 1 } } });
    cleanups.push(() => sim.close());
    const dispatcher = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    cleanups.push(() => dispatcher.close());
    // Polls are slow, so a poll soon after the webhook can only be the confirmation it asked for.
    const adapter = createSunoapiAdapter({
      apiKey: sim.apiKey,
      baseUrl: sim.url,
      dispatcher,
      pollPolicy: { intervalMs: 60_000, watchdog: { quietMs: 60_000 } },
    });
    let token = '';
    const engine = await createEngine({
      providers: [adapter],
      store: new MemoryStore(),
      webhookUrl: (provider, t) => {
        token = t;
        return `http://127.0.0.1:9/v1/hooks/${provider}/${t}`;
      },
    });
    cleanups.push(() => engine.close());
    const changes: JobChange[] = [];
    engine.changes$().subscribe((change) => changes.push(change));
    const events: EngineEvent[] = [];
    engine.events$.subscribe((event) => events.push(event));

    const job = await engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: 'music-1', audioId: 'track-1', type: 'separate_vocal' } });
    await eventually(() => Promise.resolve(sim.status(job.externalId!)), (status) => status === 'SUCCESS', { timeoutMs: 5000, what: 'the separation to finish at the simulator' });
    const polledBefore = events.filter((e) => e.type === 'poll').length;
    await engine.ingestWebhook({ provider: 'sunoapi', token, body: forged(job.externalId!, `${stolen.origin}/stolen.mp3`) });

    const done = await engine.waitFor(job.id, { timeoutMs: 5000 });
    expect(done.status).toBe('succeeded');
    expect(done.source).toBe('poll');
    expect(events.filter((e) => e.type === 'poll').length).toBeGreaterThan(polledBefore);
    const urls = Object.values((done.result as { urls: Record<string, string> }).urls);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url.startsWith(sim.url)).toBe(true);
    expect(JSON.stringify(changes)).not.toContain(stolen.origin);
    expect(stolen.hits()).toBe(0);
  });

  it('refuses to download a result URL off the provider origin that points at loopback, without quoting bodies or credentials', async () => {
    const target = await recordingServer((_req, res) => {
      res.writeHead(404);
      res.end('SECRET-BODY');
    });
    const dispatcher = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    cleanups.push(() => dispatcher.close());
    const ref = { externalId: 't1', kind: 'vocal-separation', options: {} };
    const result = { type: 'separate_vocal', urls: { vocal: `http://bob:hunter2@127.0.0.1:${target.port}/v.mp3?sig=s3cr3t` } };
    const signal = AbortSignal.timeout(5000);

    const guarded = createSunoapiAdapter({ apiKey: 'k', baseUrl: 'https://api.sunoapi.org', dispatcher });
    await expect(guarded.download!(ref, result, 'vocal.mp3', { signal })).rejects.toMatchObject({ failure: 'rejected', providerCode: 'URL_REFUSED' });
    expect(target.hits()).toBe(0);

    const allowed = createSunoapiAdapter({ apiKey: 'k', baseUrl: 'https://api.sunoapi.org', dispatcher, allowPrivateUrls: true });
    const error = (await allowed.download!(ref, result, 'vocal.mp3', { signal }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`sunoapi: 127.0.0.1:${target.port} answered 404`);
    expect(target.hits()).toBe(1);
  });
});
