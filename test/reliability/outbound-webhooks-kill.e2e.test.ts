import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import { JobChangedPayload } from '../../src/server/outbound/webhook-protocol.js';
import { generateSecret } from '../../src/server/outbound/webhook-signing.js';
import { isSettled } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { TestProcess } from '../support/processes.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { eventually } from './eventually.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';

const TOKEN = 'reliability-outbound-token-0123';

let fleet: SimulatorFleet | undefined;
let receiver: WebhookReceiver | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await TestProcess.killAll();
  await fleet?.close();
  await receiver?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function api<T>(url: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const answer = await request(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.statusCode, body: (await answer.body.json()) as T };
}

const submitBody = (n: number) => ({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } });

describe('outbound webhooks survive kill -9 of a real server (issue #16)', () => {
  it('a receiver that refuses across the kill gets every job final version exactly once, in version order, afterwards', async () => {
    fleet = await startSimulatorFleet({ speed: 20, seed: 16_000, only: ['cambai'] });
    let refusing = true;
    receiver = await WebhookReceiver.start(() => (refusing ? 503 : 200));
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-outbound-kill-'));
    dirs.push(dataDir);
    const secret = generateSecret();
    const env: Record<string, string> = {
      JOBSTREAM_TOKEN: TOKEN,
      MUSICAI_API_KEY: '',
      KLANGIO_API_KEY: '',
      SUNOAPI_API_KEY: '',
      [`${PROVIDERS.cambai.envPrefix}_API_KEY`]: fleet.simulators.cambai.apiKey,
      [`${PROVIDERS.cambai.envPrefix}_BASE_URL`]: fleet.baseUrl('cambai'),
      JOBSTREAM_WEBHOOK_URL: receiver.url,
      JOBSTREAM_WEBHOOK_SECRET: secret,
      JOBSTREAM_WEBHOOK_ALLOW_PRIVATE: '1',
      JOBSTREAM_WEBHOOK_BACKOFF_BASE_MS: '20',
      JOBSTREAM_WEBHOOK_BACKOFF_CAP_MS: '200',
    };
    const start = async () => {
      const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir], env);
      return { serve, url: await serve.waitForListening(20_000) };
    };

    const first = await start();
    const jobs: string[] = [];
    for (let n = 0; n < 6; n++) {
      const answer = await api<{ job: JobSnapshot }>(first.url, '/v1/jobs', submitBody(n));
      expect(answer.status).toBe(201);
      jobs.push(answer.body.job.id);
    }
    // Deliveries recorded and refused (retried) for several jobs, then the server dies mid-way.
    await receiver.until(() => new Set(receiver!.received.map((r) => String(r.headers['webhook-id']).split('.')[0])).size >= 3, 'refused attempts for three jobs');
    first.serve.child.kill('SIGKILL');
    expect((await first.serve.exited).signal).toBe('SIGKILL');

    const second = await start();
    for (let n = 6; n < 9; n++) {
      const answer = await api<{ job: JobSnapshot }>(second.url, '/v1/jobs', submitBody(n));
      expect(answer.status).toBe(201);
      jobs.push(answer.body.job.id);
    }
    refusing = false;
    const finals = await eventually(
      async () => Promise.all(jobs.map(async (id) => (await api<{ job: JobSnapshot }>(second.url, `/v1/jobs/${id}`)).body.job)),
      (all) => all.every((job) => isSettled(job)),
      { timeoutMs: 60_000, intervalMs: 100, what: 'every job settled' },
    );
    const accepted = () => receiver!.accepted().map((p) => JobChangedPayload.parse(p));
    await receiver.until(() => finals.every((job) => accepted().some((p) => p.data.job.id === job.id && p.data.job.version === job.version)), 'every final version', 30_000);

    const verifier = new Webhook(secret);
    for (const job of finals) {
      const mine = receiver.received.filter((r) => String(r.headers['webhook-id']).startsWith(`${job.id}.`));
      for (const r of mine) {
        verifier.verify(r.body, { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) });
      }
      // Across the kill, every attempt for a job in version order, never back.
      const attempted = mine.map((r) => JobChangedPayload.parse(JSON.parse(r.body)).data.job.version);
      expect(attempted, job.id).toEqual([...attempted].sort((a, b) => a - b));
      // Each accepted version once, the final one last.
      const ok = accepted().filter((p) => p.data.job.id === job.id).map((p) => p.data.job.version);
      expect(ok, job.id).toEqual([...new Set(ok)].sort((a, b) => a - b));
      expect(ok.at(-1), job.id).toBe(job.version);
    }
    // The log of the env endpoint agrees: nothing pending, nothing failed.
    const log = await api<{ deliveries: { status: string }[] }>(second.url, '/v1/webhooks/env/deliveries?limit=500');
    expect(log.body.deliveries.filter((d) => d.status === 'pending' || d.status === 'failed')).toEqual([]);
    await second.serve.stop('SIGTERM');
  }, 120_000);
});
