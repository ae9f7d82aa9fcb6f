import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { FakeProvider } from '../support/fake-provider.js';
import { startTestServer } from '../support/test-server.js';

let server: RunningServer;
let api: (path: string, init?: RequestInit) => Promise<Response>;

beforeAll(async () => {
  // `plain` has no cancel, like Klangio, Camb.ai and sunoapi.org.
  const plain = Object.assign(new FakeProvider({ provider: 'plain' }), { cancel: undefined });
  ({ server, api } = await startTestServer({ providers: [new FakeProvider(), plain] }));
});
afterAll(async () => {
  await server.close();
});

const post = (path: string, body: unknown) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('cancel over REST', () => {
  it('lists for each provider whether a cancel reaches it (was: not said)', async () => {
    const answer = (await (await api('/v1/providers')).json()) as { providers: { name: string; cancel: string }[] };
    expect(answer.providers.map(({ name, cancel }) => ({ name, cancel }))).toEqual([
      { name: 'fake', cancel: 'provider' },
      { name: 'plain', cancel: 'tracking-only' },
    ]);
  });

  it('answers a cancel where the provider cannot cancel with tracking-stopped and the reason, and one where it can with canceled', async () => {
    const input = { type: 'url', url: 'https://example.com/a.wav' };
    const plain = ((await (await post('/v1/jobs', { provider: 'plain', kind: 'transcription', input })).json()) as { job: { id: string } }).job;
    const stopped = await post(`/v1/jobs/${plain.id}/cancel`, {});
    expect(stopped.status).toBe(200);
    const { job } = (await stopped.json()) as { job: { status: string; providerStatus: string; error: { code: string; message: string } } };
    expect(job).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped', error: { code: 'TRACKING_STOPPED' } });
    expect(job.error.message).toContain('plain may still run it and bill for it');

    const fake = ((await (await post('/v1/jobs', { provider: 'fake', kind: 'transcription', input })).json()) as { job: { id: string } }).job;
    const canceled = (await (await post(`/v1/jobs/${fake.id}/cancel`, {})).json()) as { job: object };
    expect(canceled.job).toMatchObject({ status: 'canceled', providerStatus: 'canceled', error: null });
  });
});
