import { afterEach, describe, expect, it } from 'vitest';
import { startSunoapiSimulator } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import type { SunoapiSimulator, SunoapiSimulatorOptions } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { startWebhookReceiver } from '../kit/webhook-receiver.js';
import type { WebhookReceiver } from '../kit/webhook-receiver.js';
import { separate, sunoClient } from './sunoapi-test-client.js';

let sim: SunoapiSimulator | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

async function start(options: SunoapiSimulatorOptions = {}) {
  receiver = await startWebhookReceiver();
  sim = await startSunoapiSimulator({ speed: 100, seed: 9, ...options });
  const events: WebhookEvent[] = [];
  sim.webhooks.events.subscribe((e) => events.push(e));
  return { sim, receiver, client: sunoClient(sim), events };
}

const create = { taskId: 'suno-1', audioId: 'audio-1', type: 'separate_vocal' };

describe('sunoapi simulator: request faults', () => {
  it('answers body code 430 with Retry-After over the rate limit', async () => {
    const { client, receiver } = await start({ faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 10 } } });
    const first = await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url });
    expect(first.body.code).toBe(200);
    const limited = await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url });
    expect(limited.http).toBe(200);
    expect(limited.body.code).toBe(430);
    expect(limited.headers.get('retry-after')).toBe('10');
  });

  it('answers HTTP 430 (body code 430, Retry-After) over the rate limit with rateLimitHttpStatus 430', async () => {
    const { client, receiver } = await start({ rateLimitHttpStatus: 430, faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 7 } } });
    expect((await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url })).http).toBe(200);
    const limited = await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url });
    expect(limited.http).toBe(430);
    expect(limited.body.code).toBe(430);
    expect(limited.headers.get('retry-after')).toBe('7');
  });

  it('spends one credit per create and answers body code 429 when none are left', async () => {
    const { client, receiver, sim } = await start({ credits: 1 });
    expect((await client.get('/api/v1/generate/credit')).body).toMatchObject({ code: 200, data: 1 });
    expect((await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url })).body.code).toBe(200);
    const broke = await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url });
    expect(broke.http).toBe(200);
    expect(broke.body.code).toBe(429);
    expect(sim.credits()).toBe(0);
    sim.setCredits(5);
    expect((await client.get('/api/v1/generate/credit')).body.data).toBe(5);
    // A refused request costs nothing.
    expect((await client.post('/api/v1/vocal-removal/generate', { taskId: 'x' })).body.code).toBe(400);
    expect(sim.credits()).toBe(5);
  });

  it('answers HTTP 5xx with body code 500 under the server-error knob', async () => {
    const { client, receiver, sim } = await start({ faults: { serverErrorRate: 1 } });
    const res = await client.post('/api/v1/vocal-removal/generate', { ...create, callBackUrl: receiver.url });
    expect([500, 502, 503]).toContain(res.http);
    expect(res.body.code).toBe(500);
    sim.setFaults({ serverErrorRate: 0 });
    expect((await client.separationRecord('x')).body.code).toBe(404);
  });
});

describe('sunoapi simulator: callback delivery', () => {
  it('retries a refused callback three times, after 1, 5 and 15 minutes divided by speed, then gives up', async () => {
    // Speed 3000: the documented minutes become 20, 100 and 300 ms.
    const { client, receiver, sim, events } = await start({ speed: 3000 });
    receiver.respond = () => 503;
    const { taskId } = await separate(client, receiver.url);
    await receiver.waitFor((r) => r.length === 4);
    await sim.webhooks.idle();
    expect(receiver.received).toHaveLength(4);
    expect(events.filter((e) => e.type === 'failed').map((e) => [e.attempt, e.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
    ]);
    const at = receiver.received.map((r) => r.at);
    // Timers never fire early; 1 ms of slack for the millisecond clock.
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(60_000 / 3000 - 1);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(300_000 / 3000 - 1);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(900_000 / 3000 - 1);
    expect(sim.status(taskId)).toBe('CALLBACK_EXCEPTION');
  });

  it('stops retrying once a retry is accepted, with the same body', async () => {
    const { client, receiver, sim, events } = await start({ speed: 3000 });
    receiver.respond = (_r, i) => (i < 2 ? 503 : 200);
    const { taskId } = await separate(client, receiver.url);
    await receiver.waitFor((r) => r.length === 3);
    await sim.webhooks.idle();
    expect(receiver.received).toHaveLength(3);
    expect(events.filter((e) => e.type === 'failed').map((e) => e.attempt)).toEqual([1, 2]);
    expect(events.at(-1)).toMatchObject({ type: 'delivered', attempt: 3 });
    expect(new Set(receiver.received.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(sim.status(taskId)).toBe('SUCCESS');
  });

  it('delivers duplicates with the duplicate knob', async () => {
    const { client, receiver, sim } = await start({ faults: { webhook: { duplicateRate: 1 } } });
    const { taskId } = await separate(client, receiver.url);
    await receiver.waitFor((r) => r.length === 2);
    await sim.webhooks.idle();
    expect(receiver.received.map((r) => (r.body as { data: { task_id: string } }).data.task_id)).toEqual([taskId, taskId]);
    expect(receiver.received[0]!.body).toEqual(receiver.received[1]!.body);
  });

  it('drops callbacks with the drop knob while record-info still reports SUCCESS', async () => {
    const { client, receiver, sim, events } = await start({ faults: { webhook: { dropRate: 1 } } });
    const { final } = await separate(client, receiver.url);
    expect(final).toMatchObject({ successFlag: 'SUCCESS' });
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (events.some((e) => e.type === 'dropped')) resolve();
      };
      sim.webhooks.events.subscribe(check);
      check();
    });
    await sim.webhooks.idle();
    expect(receiver.received).toHaveLength(0);
  });

  it('reorders callbacks with the reorder knob: a held callback arrives after a later one', async () => {
    const { client, receiver, sim } = await start({ faults: { webhook: { reorderRate: 1, lateMs: 300 } } });
    const sub = sim.webhooks.events.subscribe((e) => {
      if (e.type === 'held') sim.setFaults({ webhook: { reorderRate: 0 } });
    });
    const first = await separate(client, `${receiver.url}/first`);
    const second = await separate(client, `${receiver.url}/second`);
    await receiver.waitFor((r) => r.length === 2);
    sub.unsubscribe();
    expect(receiver.received.map((r) => r.path)).toEqual(['/second', '/first']);
    expect((receiver.received[1]!.body as { data: { task_id: string } }).data.task_id).toBe(first.taskId);
    expect((receiver.received[0]!.body as { data: { task_id: string } }).data.task_id).toBe(second.taskId);
  });
});
