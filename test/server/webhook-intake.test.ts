import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { tokenOf } from '../support/fake-provider.js';
import { startTestServer } from '../support/test-server.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function withJob(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer(options);
  servers.push(started.server);
  const job = await started.server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
  const hookUrl = started.provider.created[0]!.webhookUrl!;
  const post = (body: string | object, url = hookUrl) =>
    fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { ...started, job, hookUrl, post };
}

describe('webhook intake', () => {
  it('gives providers a callback URL on the server, and applies a delivery once', async () => {
    const { server, job, hookUrl, post } = await withJob();
    expect(hookUrl.startsWith(`${server.url}/v1/hooks/fake/`)).toBe(true);
    const first = await post({ id: 'ext-1', status: 'WORKING', progress: 0.5 });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ outcome: 'applied', jobId: job.id, version: job.version + 1 });
    const again = await post({ id: 'ext-1', status: 'WORKING', progress: 0.5 });
    expect(await again.json()).toEqual({ outcome: 'duplicate', jobId: job.id, version: job.version + 1 });
    expect(server.engine.get(job.id)).toMatchObject({ status: 'running', progress: 0.5, source: 'webhook' });
  });

  it('answers 400 naming the problem for malformed bodies, storing nothing', async () => {
    const { server, job, post } = await withJob();
    const cases: [string | object, RegExp][] = [
      ['{"id": "ext-1", "status": ', /body is not valid JSON/],
      [{ id: 'ext-1', status: 'SIDEWAYS' }, /unknown status "SIDEWAYS"/],
      [{ status: 'DONE' }, /"id" must be a string/],
      ['[1,2,3]', /"id" must be a string/],
      [{ id: 'ext-2', status: 'DONE' }, /task id "ext-2" does not belong to this job/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const answer = (await res.json()) as { error: { code: string; message: string } };
      expect(answer.error.code).toBe('INVALID_WEBHOOK');
      expect(answer.error.message).toMatch(message);
    }
    expect(server.engine.get(job.id)).toEqual(job);
  });

  it('answers 404 for an unknown token, a forged secret or an unknown provider', async () => {
    const { server, job, hookUrl, post } = await withJob();
    const token = tokenOf(hookUrl);
    for (const url of [
      `${server.url}/v1/hooks/fake/${job.id}.forgedforgedforgedforged`,
      `${server.url}/v1/hooks/fake/nothing`,
      `${server.url}/v1/hooks/nobody/${token}`,
    ]) {
      const res = await post({ id: 'ext-1', status: 'DONE' }, url);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'UNKNOWN_WEBHOOK_TOKEN' } });
    }
    expect(server.engine.get(job.id)?.version).toBe(job.version);
  });

  it('answers 413 for a body over the limit, storing nothing', async () => {
    const { server, job, post } = await withJob({ maxWebhookBytes: 200 });
    const res = await post({ id: 'ext-1', status: 'DONE', result: 'x'.repeat(500) });
    expect(res.status).toBe(413);
    expect(server.engine.get(job.id)?.version).toBe(job.version);
  });

  it('counts rejected deliveries in the metrics', async () => {
    const { api, post } = await withJob();
    await post('nope');
    await post({ id: 'ext-1', status: 'WORKING' });
    const text = await (await api('/metrics')).text();
    expect(text).toContain('jobstream_webhooks_total{provider="fake",outcome="rejected"} 1');
    expect(text).toContain('jobstream_webhooks_total{provider="fake",outcome="applied"} 1');
  });
});
