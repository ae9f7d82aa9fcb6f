import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RestClient } from '../../src/client/rest-client.js';
import { credentialIdOf } from '../../src/providers/provider-http.js';
import { insightRoutes } from '../../src/server/insight-routes.js';
import type { RunningServer } from '../../src/server/server.js';
import type { JsonValue } from '../../src/streams/job-snapshot.js';
import type { ProviderJobRef, ResultDownload, ResultFile } from '../../src/streams/provider-port.js';
import { FakeProvider } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

const url = { type: 'url' as const, url: 'https://example.com/a.wav' };
const WAV = Buffer.from('RIFF0123456789abcdefWAVE');
const BIN = Buffer.from('binary-bytes');
/** A provider's "image" that would run script in the dashboard's origin if shown inline. */
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

/** The fake provider offering an audio file and an opaque one. */
class TwoFiles extends FakeProvider {
  override resultFiles(_job: ProviderJobRef, result: JsonValue): ResultFile[] {
    return typeof result === 'string'
      ? [
          { name: 'take.wav', contentType: 'audio/wav' },
          { name: 'data.bin', contentType: 'application/octet-stream' },
          { name: 'cover.svg', contentType: 'image/svg+xml' },
        ]
      : [];
  }

  override download(_job: ProviderJobRef, _result: JsonValue, name: string): Promise<ResultDownload> {
    const bytes = name === 'take.wav' ? WAV : name === 'cover.svg' ? SVG : BIN;
    const contentType = name === 'take.wav' ? 'audio/wav' : name === 'cover.svg' ? 'image/svg+xml' : 'application/octet-stream';
    return Promise.resolve({ contentType, body: Readable.from([bytes]) });
  }
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function start(provider: FakeProvider = new TwoFiles({ credentialId: credentialIdOf('sk-very-secret-key') })) {
  const resultsDir = await mkdtemp(join(tmpdir(), 'jobstream-insight-'));
  cleanup.push(() => rm(resultsDir, { recursive: true, force: true }));
  const started = await startTestServer({ provider, resultsDir });
  cleanup.push(() => started.server.close());
  return started;
}

/** A job that succeeded with its files copied to the results directory. */
async function succeeded(server: RunningServer, provider: FakeProvider, externalId: string) {
  const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
  provider.set(externalId, 'DONE', { result: 'r' });
  const settled = await server.engine.waitFor(job.id, { timeoutMs: 5000 });
  expect(settled.artifacts?.state).toBe('complete');
  return settled;
}

async function scopedToken(api: (path: string, init?: RequestInit) => Promise<Response>, ids: string[]): Promise<string> {
  const answer = await api('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filter: { ids } }) });
  expect(answer.status).toBe(201);
  return ((await answer.json()) as { token: string }).token;
}

describe('GET /v1/stats/jobs', () => {
  it('answers stats of the stored jobs, with defaults, and 400 for bad bounds; a scoped token gets its jobs only', async () => {
    const { server, provider, api } = await start();
    const done = await succeeded(server, provider, 'ext-1');
    await server.engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const client = new RestClient(server.url, TOKEN, fetch);
    const stats = await client.jobStats();
    expect(stats.buckets).toHaveLength(60);
    expect(stats.to - stats.from).toBe(3_600_000);
    expect(stats.statusNow).toEqual({ queued: 1, running: 0, succeeded: 1, failed: 0, canceled: 0 });
    expect(stats.buckets.reduce((sum, b) => sum + b.created, 0)).toBe(2);
    expect(stats.failureRate).toEqual([{ provider: 'fake', finished: 1, failed: 0, rate: 0 }]);

    const iso = await api(`/v1/stats/jobs?from=${new Date(stats.from).toISOString()}&to=${stats.to}&bucketMs=60000`);
    expect(iso.status).toBe(200);
    expect(((await iso.json()) as { buckets: unknown[] }).buckets).toHaveLength(60);

    for (const query of ['bucketMs=999', `from=0&to=${1_000_001}&bucketMs=1000`, 'from=yesterday', 'bucketMs=1.5', 'from=10&to=5']) {
      const answer = await api(`/v1/stats/jobs?${query}`);
      expect(answer.status, query).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
    }
    const token = await scopedToken(api, [done.id]);
    const scoped = await new RestClient(server.url, token, fetch).jobStats();
    expect(scoped.statusNow).toEqual({ queued: 0, running: 0, succeeded: 1, failed: 0, canceled: 0 });
    expect(scoped.buckets.reduce((sum, b) => sum + b.created, 0)).toBe(1);
    // Health is not the business of a scoped token.
    const health = await fetch(`${server.url}/v1/providers/health`, { headers: { authorization: `Bearer ${token}` } });
    expect(health.status).toBe(403);
  });
});

describe('GET /v1/providers/health', () => {
  it('lists each lane by provider and credential hash, never the credential', async () => {
    const { server } = await start();
    const client = new RestClient(server.url, TOKEN, fetch);
    await server.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const lanes = await client.providerHealth();
    expect(lanes).toEqual([
      {
        lane: `fake:${credentialIdOf('sk-very-secret-key')}`,
        provider: 'fake',
        jobs: 1,
        ratePerSecond: 1000,
        burst: 1000,
        tokens: lanes[0]!.tokens,
        state: 'ok',
        since: null,
        blockedUntil: null,
        nextProbeAt: null,
        failures: 0,
        recentErrors: [],
      },
    ]);
    expect(JSON.stringify(lanes)).not.toContain('sk-very-secret-key');
  });
});

describe('POST /v1/jobs/cancel', () => {
  it('cancels each id on its own: unknown, finished and running ids in one request, answers in order', async () => {
    const { server, provider, api } = await start();
    const done = await succeeded(server, provider, 'ext-1');
    const running = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const client = new RestClient(server.url, TOKEN, fetch);
    const results = await client.cancelMany(['job_nope', done.id, running.id, running.id]);
    const canceled = { id: running.id, job: expect.objectContaining({ id: running.id, status: 'canceled', providerStatus: 'canceled' }) as object };
    expect(results).toEqual([
      { id: 'job_nope', error: { code: 'UNKNOWN_JOB', message: expect.stringContaining('job_nope') as string } },
      { id: done.id, job: expect.objectContaining({ id: done.id, status: 'succeeded' }) as object },
      canceled,
      canceled,
    ]);
    expect(provider.canceled).toEqual(['ext-2']);

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      api('/v1/jobs/cancel', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post({ ids: [] })).status).toBe(400);
    expect((await post({ ids: Array.from({ length: 501 }, (_, i) => `job_${i}`) })).status).toBe(400);
    expect((await post({ ids: 'job_1' })).status).toBe(400);
    const token = await scopedToken(api, [running.id]);
    const scoped = await post({ ids: [running.id] }, { authorization: `Bearer ${token}` });
    expect(scoped.status).toBe(403);
    expect(((await scoped.json()) as { error: { code: string } }).error.code).toBe('SCOPE_FORBIDDEN');
  });
});

describe('GET /v1/jobs/:id/results/:name ranges and disposition', () => {
  it('answers one range with 206, a suffix range, 416 past the end, the whole file for several ranges', async () => {
    const { server, provider, api } = await start();
    const job = await succeeded(server, provider, 'ext-1');
    const path = `/v1/jobs/${job.id}/results/take.wav`;
    const size = WAV.length;

    const whole = await api(path);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-length')).toBe(String(size));
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(WAV);

    const part = await api(path, { headers: { range: 'bytes=4-9' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 4-9/${size}`);
    expect(part.headers.get('content-length')).toBe('6');
    expect(await part.text()).toBe('012345');

    const open = await api(path, { headers: { range: 'bytes=20-' } });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-range')).toBe(`bytes 20-${size - 1}/${size}`);
    expect(await open.text()).toBe('WAVE');

    const suffix = await api(path, { headers: { range: 'bytes=-4' } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe(`bytes ${size - 4}-${size - 1}/${size}`);
    expect(await suffix.text()).toBe('WAVE');

    const clamped = await api(path, { headers: { range: `bytes=10-${size + 100}` } });
    expect(clamped.status).toBe(206);
    expect(clamped.headers.get('content-range')).toBe(`bytes 10-${size - 1}/${size}`);
    await clamped.arrayBuffer();

    for (const range of [`bytes=${size}-`, 'bytes=-0', `bytes=${size + 5}-${size + 9}`]) {
      const refused = await api(path, { headers: { range } });
      expect(refused.status, range).toBe(416);
      expect(refused.headers.get('content-range')).toBe(`bytes */${size}`);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RANGE_NOT_SATISFIABLE');
    }

    // Several ranges, another unit, nonsense: the whole file (RFC 9110 lets a server ignore Range).
    for (const range of ['bytes=0-1,4-5', 'items=0-1', 'bytes=x-y']) {
      const full = await api(path, { headers: { range } });
      expect(full.status, range).toBe(200);
      expect(full.headers.get('content-range')).toBeNull();
      expect(Buffer.from(await full.arrayBuffer())).toEqual(WAV);
    }
  });

  it('shows audio inline on ?disposition=inline, keeps other types attachments, refuses other values', async () => {
    const { server, provider, api } = await start();
    const job = await succeeded(server, provider, 'ext-1');
    const inline = await api(`/v1/jobs/${job.id}/results/take.wav?disposition=inline`);
    expect(inline.headers.get('content-disposition')).toBe(`inline; filename="take.wav"; filename*=UTF-8''take.wav`);
    await inline.arrayBuffer();
    const plain = await api(`/v1/jobs/${job.id}/results/take.wav`);
    expect(plain.headers.get('content-disposition')).toMatch(/^attachment; /);
    await plain.arrayBuffer();
    const opaque = await api(`/v1/jobs/${job.id}/results/data.bin?disposition=inline`);
    expect(opaque.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(Buffer.from(await opaque.arrayBuffer())).toEqual(BIN);
    expect((await api(`/v1/jobs/${job.id}/results/take.wav?disposition=evil`)).status).toBe(400);
    // An SVG from the provider is an image that runs script: never inline, and sandboxed anyway.
    const svg = await api(`/v1/jobs/${job.id}/results/cover.svg?disposition=inline`);
    expect(svg.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(svg.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    await svg.arrayBuffer();
    expect(inline.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  it('takes a scoped token in ?token= on a result path only, and never the API token there', async () => {
    const { server, provider, api } = await start();
    const job = await succeeded(server, provider, 'ext-1');
    const other = await succeeded(server, provider, 'ext-2');
    const token = await scopedToken(api, [job.id]);
    const at = (path: string) => fetch(`${server.url}${path}`);

    const audio = await fetch(new RestClient(server.url, TOKEN, fetch).resultUrl(job.id, 'take.wav', { disposition: 'inline', token }));
    expect(audio.headers.get('content-disposition')).toMatch(/^inline; /);
    expect(audio.status).toBe(200);
    expect(Buffer.from(await audio.arrayBuffer())).toEqual(WAV);
    const ranged = await fetch(`${server.url}/v1/jobs/${job.id}/results/take.wav?token=${token}`, { headers: { range: 'bytes=0-3' } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('RIFF');

    // Outside its scope: like an unknown job.
    expect((await at(`/v1/jobs/${other.id}/results/take.wav?token=${token}`)).status).toBe(404);
    // Other paths do not read ?token=.
    expect((await at(`/v1/jobs/${job.id}?token=${token}`)).status).toBe(401);
    expect((await at(`/v1/jobs/${job.id}/results?token=${token}`)).status).toBe(401);
    // The API token is never taken from a URL.
    const admin = await at(`/v1/jobs/${job.id}/results/take.wav?token=${TOKEN}`);
    expect(admin.status).toBe(401);
    expect(((await admin.json()) as { error: { message: string } }).error.message).toMatch(/only a scoped read token/);
  });
});

describe('the stats cache', () => {
  it('answers the same query from the cache for 2 s, then computes again', async () => {
    const { server } = await start();
    let now = 1_000_000;
    const app = insightRoutes({ engine: server.engine, now: () => now });
    const total = async (query = '') => {
      const answer = await app.request(`/stats/jobs${query}`);
      expect(answer.status).toBe(200);
      return Object.values(((await answer.json()) as { statusNow: Record<string, number> }).statusNow).reduce((a, b) => a + b, 0);
    };
    expect(await total()).toBe(0);
    await server.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    now += 1999;
    expect(await total()).toBe(0);
    // Another query is another cache entry.
    expect(await total('?bucketMs=60000')).toBe(1);
    now += 1;
    expect(await total()).toBe(1);
  });
});
