import { afterEach, describe, expect, it } from 'vitest';
import { FaultProfile, mergeFaults } from '../../../src/simulators/kit/fault-profile.js';
import type { FaultProfilePatch } from '../../../src/simulators/kit/fault-profile.js';
import { createRandom } from '../../../src/simulators/kit/seeded-random.js';
import { WebhookSender, WebhookUrlError } from '../../../src/simulators/kit/webhook-sender.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { startWebhookReceiver } from './webhook-receiver.js';
import type { WebhookReceiver } from './webhook-receiver.js';

let receiver: WebhookReceiver | undefined;
let sender: WebhookSender | undefined;
afterEach(async () => {
  await sender?.close();
  await receiver?.close();
  sender = undefined;
  receiver = undefined;
});

async function setup(patch: FaultProfilePatch = {}, opts: { timeoutMs?: number; retryDelaysMs?: number[] } = {}) {
  receiver = await startWebhookReceiver();
  let faults = mergeFaults(FaultProfile.parse({}), patch);
  sender = new WebhookSender({
    faults: () => faults,
    random: createRandom(11),
    timeoutMs: opts.timeoutMs ?? 2000,
    retryDelaysMs: opts.retryDelaysMs ?? [5, 10, 20],
  });
  const events: WebhookEvent[] = [];
  sender.events.subscribe((e) => events.push(e));
  const set = (p: FaultProfilePatch): void => {
    faults = mergeFaults(faults, p);
  };
  return { receiver, sender, events, set };
}

describe('WebhookSender', () => {
  it('POSTs JSON to the URL and reports delivery', async () => {
    const { receiver, sender, events } = await setup();
    sender.send(`${receiver.url}/hook?x=1`, { job_id: 'j1', status: 'COMPLETED' }, 'j1');
    await sender.idle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.path).toBe('/hook?x=1');
    expect(receiver.received[0]!.headers['content-type']).toBe('application/json');
    expect(receiver.received[0]!.body).toEqual({ job_id: 'j1', status: 'COMPLETED' });
    expect(events).toEqual([expect.objectContaining({ type: 'delivered', status: 200, attempt: 1, key: 'j1' })]);
  });

  it('delivers the changes of one key in send order', async () => {
    const { receiver, sender } = await setup();
    // The first answer is slow, so concurrent sending would overtake it.
    receiver.respond = (_r, i) => (i === 0 ? new Promise((resolve) => setTimeout(() => resolve(200), 50)) : 200);
    for (const status of ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']) sender.send(receiver.url, { status }, 'j');
    await sender.idle();
    expect(receiver.received.map((r) => (r.body as { status: string }).status)).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
  });

  it('retries a non-2xx answer after each delay, then gives up', async () => {
    const { receiver, sender, events } = await setup({}, { retryDelaysMs: [5, 10, 20] });
    receiver.respond = () => 503;
    sender.send(receiver.url, { n: 1 }, 'k');
    await sender.idle();
    expect(receiver.received).toHaveLength(4);
    const failed = events.filter((e) => e.type === 'failed');
    expect(failed.map((e) => [e.attempt, e.status, e.willRetry])).toEqual([
      [1, 503, true],
      [2, 503, true],
      [3, 503, true],
      [4, 503, false],
    ]);
    const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at);
    expect(gaps[2]).toBeGreaterThanOrEqual(15);
  });

  it('stops retrying once an attempt succeeds', async () => {
    const { receiver, sender, events } = await setup();
    receiver.respond = (_r, i) => (i < 2 ? 500 : 204);
    sender.send(receiver.url, { n: 1 }, 'k');
    await sender.idle();
    expect(receiver.received).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ type: 'delivered', status: 204, attempt: 3 });
  });

  it('counts an answer slower than timeoutMs as failed and retries it', async () => {
    const { receiver, sender, events } = await setup({}, { timeoutMs: 100, retryDelaysMs: [5] });
    receiver.respond = (_r, i) => (i === 0 ? new Promise((resolve) => setTimeout(() => resolve(200), 400)) : 200);
    sender.send(receiver.url, { n: 1 }, 'k');
    await sender.idle();
    expect(events.map((e) => [e.type, e.attempt])).toEqual([
      ['failed', 1],
      ['delivered', 2],
    ]);
    expect(events[0]!.error).toBeDefined();
  });

  it('refuses non-loopback and non-http URLs unless remote is allowed', async () => {
    const { sender } = await setup();
    expect(() => sender.send('http://example.com/hook', {}, 'k')).toThrow(WebhookUrlError);
    expect(() => sender.send('ftp://127.0.0.1/hook', {}, 'k')).toThrow(WebhookUrlError);
    expect(() => sender.send('not a url', {}, 'k')).toThrow(WebhookUrlError);
    expect(() => sender.send('http://localhost:1/hook', {}, 'k')).not.toThrow();
    expect(() => sender.send('http://[::1]:1/hook', {}, 'k')).not.toThrow();
    const remote = new WebhookSender({ faults: () => FaultProfile.parse({}), random: createRandom(1), timeoutMs: 10, retryDelaysMs: [], allowRemote: true });
    expect(() => remote.send('http://203.0.113.1:9/hook', {}, 'k')).not.toThrow();
    await remote.close();
  });

  it('drops deliveries with the drop fault', async () => {
    const { receiver, sender, events } = await setup({ webhook: { dropRate: 1 } });
    sender.send(receiver.url, { n: 1 }, 'k');
    sender.send(receiver.url, { n: 2 }, 'k');
    await sender.idle();
    expect(receiver.received).toHaveLength(0);
    expect(events.map((e) => e.type)).toEqual(['dropped', 'dropped']);
  });

  it('sends duplicates with the duplicate fault', async () => {
    const { receiver, sender, events } = await setup({ webhook: { duplicateRate: 1 } });
    sender.send(receiver.url, { n: 1 }, 'k');
    await sender.idle();
    expect(receiver.received.map((r) => r.body)).toEqual([{ n: 1 }, { n: 1 }]);
    expect(events.filter((e) => e.type === 'duplicated')).toHaveLength(1);
  });

  it('holds a reordered delivery until the next one for the same key went out', async () => {
    const { receiver, sender, events, set } = await setup({ webhook: { reorderRate: 1, lateMs: 5000 } });
    sender.send(receiver.url, { n: 1 }, 'k');
    expect(events.map((e) => e.type)).toEqual(['held']);
    set({ webhook: { reorderRate: 0 } });
    sender.send(receiver.url, { n: 2 }, 'other-key');
    await receiver.waitFor((r) => r.length === 1);
    sender.send(receiver.url, { n: 3 }, 'k');
    await receiver.waitFor((r) => r.length === 3);
    expect(receiver.received.map((r) => r.body)).toEqual([{ n: 2 }, { n: 3 }, { n: 1 }]);
    await sender.idle();
  });

  it('releases a held delivery after lateMs when nothing follows', async () => {
    const { receiver, sender } = await setup({ webhook: { reorderRate: 1, lateMs: 30 } });
    const t = Date.now();
    sender.send(receiver.url, { n: 1 }, 'k');
    await sender.idle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.at - t).toBeGreaterThanOrEqual(25);
  });

  it('delays late deliveries by lateMs, letting later ones overtake', async () => {
    const { receiver, sender, events, set } = await setup({ webhook: { lateRate: 1, lateMs: 60 } });
    sender.send(receiver.url, { n: 1 }, 'k');
    set({ webhook: { lateRate: 0 } });
    sender.send(receiver.url, { n: 2 }, 'k');
    await sender.idle();
    expect(receiver.received.map((r) => r.body)).toEqual([{ n: 2 }, { n: 1 }]);
    expect(events[0]).toMatchObject({ type: 'delayed', attempt: 0 });
  });

  it('cancels pending deliveries and retries on close', async () => {
    const { receiver, sender, events } = await setup({}, { retryDelaysMs: [60_000] });
    receiver.respond = () => 500;
    sender.send(receiver.url, { n: 1 }, 'k');
    await receiver.waitFor((r) => r.length === 1);
    let completed = false;
    sender.events.subscribe({ complete: () => (completed = true) });
    const idle = sender.idle();
    await sender.close();
    await idle;
    expect(completed).toBe(true);
    expect(receiver.received).toHaveLength(1);
    sender.send(receiver.url, { n: 2 }, 'k');
    await sender.idle();
    expect(receiver.received).toHaveLength(1);
    expect(events.filter((e) => e.type === 'delivered')).toHaveLength(0);
  });
});
