import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { tokenOf } from '../support/fake-provider.js';
import { TestProcess } from '../support/processes.js';
import { RawWsPeer } from '../support/raw-ws-peer.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { WsTestClient } from '../support/ws-test-client.js';
import { metricValue } from './metrics-text.js';
import { report, sized } from './reliability-size.js';
import { StreamWatcher, type WatchedSubscription } from './stream-watcher.js';

// The server runs in this process (its WebSocket hub is what is measured); the subscribers here
// keep a few numbers per job only. A full collection before each measurement, so what is
// measured is what is still referenced.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Heap plus off-heap buffers (where queued WebSocket frames live) after a full collection. */
function liveBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const MiB = 1024 * 1024;
const JOBS = sized({ ci: 800, full: 2000 });
/** Progress steps per job in the measured burst; each step is one change of every job. */
const BURST_STEPS = sized({ ci: 100, full: 300 });
/** Metadata carried by every change, so the burst has weight. */
const METADATA_BYTES = 1200;
/**
 * What the stalled peer may cost at most: the hub drops it once it owes `dropBytes` (1 MiB
 * here), plus what was already queued when it started lagging. An unbounded buffer would hold
 * the whole burst (about 100 MiB in CI size), so the bound is far below that.
 */
const MEMORY_BOUND = 24 * MiB;

const servers: RunningServer[] = [];
const watchers: StreamWatcher[] = [];
const peers: RawWsPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(() => TestProcess.killAll());

describe('a stalled subscriber among many', () => {
  it('is dropped at its limit, memory stays bounded, and the others get every change', async () => {
    const { server, provider, api, wsUrl } = await startTestServer({
      ws: { lagBytes: 256 * 1024, dropBytes: MiB, lagTimeoutMs: 120_000, heartbeatMs: 120_000 },
    });
    servers.push(server);
    const engine = server.engine;

    const jobs: JobSnapshot[] = [];
    for (let i = 0; i < JOBS; i++) {
      jobs.push(
        await engine.submit({
          provider: 'fake',
          kind: i % 2 === 0 ? 'transcription' : 'separation',
          input: { type: 'url', url: 'https://example.com/a.wav' },
          metadata: { index: i, note: 'x'.repeat(METADATA_BYTES) },
        }),
      );
    }
    const tokens = provider.created.map((request) => tokenOf(request.webhookUrl));
    const some = jobs.filter((_, i) => i % 20 === 0).map((job) => job.id);

    // Healthy subscribers with different filters. The ones whose filter matches every change of
    // a job must see every version; the status filter sees jobs enter and leave its statuses.
    const complete: WatchedSubscription[] = [{ sub: 'all' }, { sub: 'separations', filter: { kinds: ['separation'] } }, { sub: 'some', filter: { ids: some } }];
    const healthy = await Promise.all([
      ...complete.map((sub) => StreamWatcher.open(wsUrl, TOKEN, [sub], { validate: false })),
      StreamWatcher.open(wsUrl, TOKEN, [{ sub: 'finished', filter: { statuses: ['succeeded'] } }], { validate: false }),
    ]);
    watchers.push(...healthy);

    // Every change of every job, `steps` times; yields between rounds like network I/O would.
    let progress = 0;
    const totalSteps = 14 + BURST_STEPS;
    const round = async (): Promise<void> => {
      progress += 1;
      for (let from = 0; from < jobs.length; from += 100) {
        await Promise.all(
          jobs.slice(from, from + 100).map((job, i) =>
            engine.ingestWebhook({ provider: 'fake', token: tokens[from + i]!, body: { id: job.externalId, status: 'WORKING', progress: progress / (totalSteps + 1) } }),
          ),
        );
        await nextTurn();
      }
    };

    // Warm-up: fills the engine's change log (10,000 changes kept for resuming), which holds
    // every change and its wire form by design; the measurement starts from that steady state.
    while (engine.seq < 2 * JOBS + 10_500) await round();

    const stalled = await RawWsPeer.open(wsUrl, TOKEN);
    peers.push(stalled);
    stalled.sendText('{"type":"subscribe","sub":"everything"}');
    await stalled.waitFor('"more":false', 10_000);
    await expect.poll(() => server.hub.stats.subscriptions).toBe(5);
    stalled.stopReading();

    const baseline = liveBytes();
    let peak = baseline;
    const started = Date.now();
    const seqBefore = engine.seq;
    for (let step = 0; step < BURST_STEPS; step++) {
      await round();
      if (step % 5 === 0) peak = Math.max(peak, liveBytes());
    }
    peak = Math.max(peak, liveBytes());
    const burstChanges = engine.seq - seqBefore;
    const burstMs = Date.now() - started;

    // Finish every job, so each subscriber also sees the terminal change.
    await Promise.all(jobs.map((job, i) => engine.ingestWebhook({ provider: 'fake', token: tokens[i]!, body: { id: job.externalId, status: 'DONE', result: 'r' } })));
    const final = new Map(engine.snapshot().jobs.map((job) => [job.id, job.version]));
    const wants = (watcher: StreamWatcher, sub: string, ids: readonly string[]) =>
      watcher.until(() => ids.every((id) => watcher.orders.get(sub)!.latest.get(id)?.version === final.get(id)), 30_000, `${sub} to catch up`);
    await wants(healthy[0], 'all', jobs.map((job) => job.id));
    await wants(healthy[1]!, 'separations', jobs.filter((job) => job.kind === 'separation').map((job) => job.id));
    await wants(healthy[2]!, 'some', some);
    await wants(healthy[3]!, 'finished', jobs.map((job) => job.id));

    const metrics = await (await api('/metrics')).text();
    report('slow-clients', {
      jobs: JOBS,
      burstChanges,
      burstMiB: ((burstChanges * (METADATA_BYTES + 400)) / MiB).toFixed(0),
      burstMs,
      liveBytesGrowthMiB: ((peak - baseline) / MiB).toFixed(1),
      boundMiB: MEMORY_BOUND / MiB,
      healthyMessages: healthy.map((watcher) => watcher.messages).join('/'),
    });

    expect(metricValue(metrics, 'jobstream_ws_dropped_slow_clients_total')).toBe(1);
    expect(server.hub.clientCount).toBe(healthy.length);
    expect(peak - baseline).toBeLessThan(MEMORY_BOUND);
    for (const watcher of healthy) {
      expect(watcher.allProblems()).toEqual([]);
      expect(watcher.ws.readyState).toBe(watcher.ws.OPEN);
    }
    // Subscriptions that match every change of their jobs got every version, none skipped.
    for (const [index, { sub }] of complete.entries()) expect([...healthy[index]!.orders.get(sub)!.skipped]).toEqual([]);
  }, 120_000);
});

describe('a silently dead peer', () => {
  it('is cut within two heartbeat intervals, while a live client stays', async () => {
    const heartbeatMs = 300;
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-reliability-dead-'));
    const token = 'reliability-dead-peer-token';
    const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir], {
      JOBSTREAM_TOKEN: token,
      JOBSTREAM_WS_HEARTBEAT_MS: String(heartbeatMs),
      KLANGIO_API_KEY: '',
      MUSICAI_API_KEY: '',
      SUNOAPI_API_KEY: '',
      CAMBAI_API_KEY: '',
    });
    try {
      const url = await serve.waitForListening();
      const metrics = async () => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      const live = await WsTestClient.connect(`${url.replace('http', 'ws')}/v1/stream`, token);
      await live.next('hello');

      const dead = await RawWsPeer.open(`${url.replace('http', 'ws')}/v1/stream`, token);
      peers.push(dead);
      const connectedAt = Date.now();
      expect(metricValue(await metrics(), 'jobstream_ws_clients')).toBe(2);
      await expect
        .poll(async () => {
          const text = await metrics();
          return [metricValue(text, 'jobstream_ws_dead_peers_total'), metricValue(text, 'jobstream_ws_clients')];
        }, { timeout: 2 * heartbeatMs + 5000, interval: 20 })
        .toEqual([1, 1]);
      const cutAfterMs = Date.now() - connectedAt;
      report('dead-peer', { heartbeatMs, cutAfterMs });
      // Two intervals, plus what a busy machine adds to timers and to the metrics round trips.
      expect(cutAfterMs).toBeLessThan(2 * heartbeatMs + 2000);

      // The live client answered every ping and is still served.
      live.send({ type: 'ping', id: 'still-here' });
      expect(await live.next('pong')).toEqual({ type: 'pong', id: 'still-here' });
      await live.close();
      expect(await serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await serve.stop('SIGKILL').catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
