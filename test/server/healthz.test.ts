import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { MemoryStore, type StoredJob } from '../../src/streams/job-store.js';
import { metricValue } from '../reliability/metrics-text.js';
import { startTestServer } from '../support/test-server.js';

/** A memory store whose writes fail while `failure` is set (a disk giving EIO, without root). */
class FailingStore extends MemoryStore {
  failure: Error | undefined;
  override append(batch: readonly StoredJob[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return super.append(batch);
  }
}

const eio = (): Error => Object.assign(new Error("EIO: i/o error, write '/var/lib/jobstream/journal-00000001.jsonl'"), { code: 'EIO' });

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('/healthz', () => {
  it('says 503 while store writes fail (EIO): only "unavailable" without the token, the reason with it, and 200 again once a retry succeeds; /metrics counts the failures and says whether the store is up', async () => {
    const store = new FailingStore();
    const { server, provider, api } = await startTestServer({ store });
    servers.push(server);
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    store.failure = eio();
    const hook = () =>
      fetch(provider.created[0]!.webhookUrl!, { method: 'POST', body: JSON.stringify({ id: 'ext-1', status: 'WORKING' }), headers: { 'content-type': 'application/json' } });
    const refused = await hook();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);

    const open = await fetch(`${server.url}/healthz`);
    expect(open.status).toBe(503);
    expect(await open.json()).toEqual({ status: 'unavailable' });
    const detailed = await api('/healthz');
    expect(detailed.status).toBe(503);
    const body = (await detailed.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'unavailable', reason: 'store: EIO: i/o error', epoch: server.engine.epoch, providers: ['fake'] });
    // Never a server path, even with the token.
    expect(JSON.stringify(body)).not.toContain('/var/lib');
    expect(server.engine.get(job.id)).toMatchObject({ status: 'queued' });
    const down = await (await api('/metrics')).text();
    expect(metricValue(down, 'jobstream_store_up')).toBe(0);
    expect(metricValue(down, 'jobstream_store_write_failures_total')).toBeGreaterThanOrEqual(1);

    const recovered = firstValueFrom(server.engine.events$.pipe(filter((event) => event.type === 'store-recovered')));
    store.failure = undefined;
    expect(await recovered).toMatchObject({ type: 'store-recovered', attempts: expect.any(Number) as number });
    const healthy = await fetch(`${server.url}/healthz`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toEqual({ status: 'ok' });
    expect(await (await api('/healthz')).json()).toMatchObject({ status: 'ok', seq: server.engine.seq, providers: ['fake'] });
    expect(server.engine.get(job.id)).toMatchObject({ status: 'running' });
    expect(metricValue(await (await api('/metrics')).text(), 'jobstream_store_up')).toBe(1);
    const retried = await hook();
    expect(await retried.json()).toMatchObject({ outcome: 'duplicate', jobId: job.id });
  });
});
