import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startKlangioSimulator } from '../../../src/simulators/klangio/klangio-simulator.js';
import type { KlangioSimulator, KlangioSimulatorOptions } from '../../../src/simulators/klangio/klangio-simulator.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { startWebhookReceiver } from '../kit/webhook-receiver.js';
import type { WebhookReceiver } from '../kit/webhook-receiver.js';
import { klangioClient } from './klangio-test-client.js';

let sim: KlangioSimulator | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

async function start(options: KlangioSimulatorOptions = {}) {
  receiver = await startWebhookReceiver();
  sim = await startKlangioSimulator({ speed: 100, seed: 3, webhookRetryDelaysMs: [200, 400], ...options });
  const events: WebhookEvent[] = [];
  sim.webhooks.events.subscribe((e) => events.push(e));
  return { sim, receiver, client: klangioClient(sim), events };
}

const bodies = (r: WebhookReceiver) => r.received.map((x) => x.body as { job_id: string; status: string });

describe('Klangio simulator: webhooks', () => {
  it('POSTs {job_id, status} on IN_PROGRESS and on the terminal status', async () => {
    const { receiver, client, sim } = await start();
    const { body } = await client.create('/transcription', { model: 'universal', webhook_url: `${receiver.url}/hook` }, ['mxml']);
    const jobId = String(body['job_id']);
    await receiver.waitFor((r) => r.length === 2);
    await sim.webhooks.idle();
    expect(bodies(receiver)).toEqual([
      { job_id: jobId, status: 'IN_PROGRESS' },
      { job_id: jobId, status: 'COMPLETED' },
    ]);
    expect(receiver.received[0]!.path).toBe('/hook');
    expect(receiver.received[0]!.headers['content-type']).toBe('application/json');
    // The terminal webhook never runs ahead of the status endpoint.
    expect((await client.status(jobId)).body['status']).toBe('COMPLETED');
  });

  it('reports FAILED through the webhook for a failed job', async () => {
    const { receiver, client } = await start({ faults: { jobFailureRate: 1 } });
    const { body } = await client.create('/beat-tracking', { webhook_url: receiver.url });
    await receiver.waitFor((r) => r.length === 2);
    expect(bodies(receiver).map((b) => b.status)).toEqual(['IN_PROGRESS', 'FAILED']);
    expect(bodies(receiver)[1]!.job_id).toBe(body['job_id']);
  });

  it('retries a webhook the receiver refuses', async () => {
    const { receiver, client, sim, events } = await start({ webhookRetryDelaysMs: [100, 100] });
    receiver.respond = (_r, i) => (i === 0 ? 500 : 200);
    await client.create('/strum-recognition', { webhook_url: receiver.url });
    await receiver.waitFor((r) => r.length === 3);
    await sim.webhooks.idle();
    expect(bodies(receiver).map((b) => b.status)).toEqual(['IN_PROGRESS', 'IN_PROGRESS', 'COMPLETED']);
    expect(events.filter((e) => e.type === 'failed')).toEqual([expect.objectContaining({ status: 500, attempt: 1, willRetry: true })]);
  });

  it('duplicates webhooks with the duplicate knob', async () => {
    const { receiver, client, sim } = await start({ faults: { webhook: { duplicateRate: 1 } } });
    await client.create('/strum-recognition', { webhook_url: receiver.url });
    await receiver.waitFor((r) => r.length === 4);
    await sim.webhooks.idle();
    expect(bodies(receiver).map((b) => b.status)).toEqual(['IN_PROGRESS', 'IN_PROGRESS', 'COMPLETED', 'COMPLETED']);
  });

  it('drops webhooks with the drop knob while polling still completes', async () => {
    const { receiver, client, sim, events } = await start({ faults: { webhook: { dropRate: 1 } } });
    const { body } = await client.create('/strum-recognition', { webhook_url: receiver.url });
    expect((await client.waitTerminal(String(body['job_id']))).at(-1)).toBe('COMPLETED');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (events.filter((e) => e.type === 'dropped').length === 2) resolve();
      };
      sim.webhooks.events.subscribe(check);
      check();
    });
    await sim.webhooks.idle();
    expect(receiver.received).toHaveLength(0);
  });

  it('reorders webhooks with the reorder knob: the terminal status arrives first', async () => {
    const { receiver, client, sim } = await start({ faults: { webhook: { reorderRate: 1, lateMs: 5000 } } });
    // Only the first delivery is reordered: switch the knob off once it is held.
    const sub = sim.webhooks.events.subscribe((e) => {
      if (e.type === 'held') sim.setFaults({ webhook: { reorderRate: 0 } });
    });
    await client.create('/chord-recognition', { vocabulary: 'full', webhook_url: receiver.url });
    await receiver.waitFor((r) => r.length === 2);
    sub.unsubscribe();
    expect(bodies(receiver).map((b) => b.status)).toEqual(['COMPLETED', 'IN_PROGRESS']);
  });
});

describe('Klangio simulator: request faults', () => {
  it('answers 5xx {detail} with the server-error knob and creates nothing', async () => {
    const { client, sim } = await start({ faults: { serverErrorRate: 1 } });
    const res = await client.create('/transcription', { model: 'universal' }, ['mxml']);
    expect([500, 502, 503]).toContain(res.status);
    expect(typeof res.body['detail']).toBe('string');
    sim.setFaults({ serverErrorRate: 0 });
    const ok = await client.create('/transcription', { model: 'universal' }, ['mxml']);
    expect(ok.status).toBe(200);
  });

  it('answers 429 with Retry-After over the rate limit', async () => {
    const { client } = await start({ faults: { rateLimit: { limit: 2, windowMs: 60_000, retryAfterSeconds: 3 } } });
    expect((await client.status('x')).status).toBe(404);
    expect((await client.status('x')).status).toBe(404);
    const limited = await client.create('/beat-tracking', {});
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(typeof limited.body['detail']).toBe('string');
  });
});

const hasPythonRequests = await new Promise<boolean>((resolve) => {
  execFile('python3', ['-c', 'import requests'], (error) => resolve(error === null));
});

describe('Klangio simulator: Python requests client', () => {
  // Skipped only where python3 with the requests package is not installed.
  it.skipIf(!hasPythonRequests)('accepts the documented requests multipart upload (params=, data=, files=)', async () => {
    const { sim, receiver } = await start();
    const dir = await mkdtemp(join(tmpdir(), 'klangio-py-'));
    try {
      const audio = join(dir, 'song.wav');
      await writeFile(audio, wavFile({ seconds: 0.05 }));
      const script = [
        'import json, sys, requests',
        'url, key, audio, hook = sys.argv[1:5]',
        "resp = requests.post(url + '/transcription', headers={'kl-api-key': key},",
        "    params={'model': 'universal', 'webhook_url': hook}, data={'outputs': ['mxml', 'midi']},",
        "    files={'file': open(audio, 'rb')})",
        'print(json.dumps({"status": resp.status_code, "body": resp.json()}))',
      ].join('\n');
      const out = await new Promise<string>((resolve, reject) => {
        execFile('python3', ['-c', script, sim.url, sim.apiKey, audio, receiver.url], (error, stdout, stderr) =>
          error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
        );
      });
      const result = JSON.parse(out) as { status: number; body: Record<string, unknown> };
      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ gen_xml: true, gen_midi: true, gen_pdf: false });
      await receiver.waitFor((r) => r.some((x) => (x.body as { status: string }).status === 'COMPLETED'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
