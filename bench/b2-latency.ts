import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobSnapshot } from '../src/streams/job-snapshot.js';
import { FakeProvider, tokenOf } from '../test/support/fake-provider.js';
import { startTestServer, TOKEN } from '../test/support/test-server.js';
import { startBareWsServer, until, type BareWsServer } from './lib/bare-ws.js';
import { BenchChild } from './lib/child.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

const SUBSCRIBERS = 1000;
const JOBS = 50;

interface Latency {
  /** Webhooks per second of this round (half the relay's ceiling measured just before). */
  rate: number;
  /** CPU time of the server process per webhook, and over the run's duration. */
  serverCpuMsPerWebhook: number;
  serverUtilisation: number;
  p50: number;
  p99: number;
  max: number;
  deliveries: number;
  missing: number;
  closedEarly: number;
  sendLateP99Ms: number;
  statuses: Record<string, number>;
}

/**
 * B2: webhook-to-subscriber latency under open-loop load. A sender process POSTs webhooks at
 * fixed scheduled times to the real intake (`/v1/hooks/fake/:token`, MemoryStore) while 1,000
 * subscribers in another process record, for every delivery, the time from the webhook's
 * *scheduled* send time (so a stalled server cannot hide its backlog: coordinated omission is
 * counted). A later state of the same job covers an earlier delivery (a client that fell
 * behind may be sent only the latest state). The rate is half the bare relay's ceiling,
 * measured at the start of each round. The baseline relay is a node:http handler that
 * broadcasts the same change message with `ws`.
 */
export async function latency(options: BenchOptions): Promise<Row[]> {
  const durationMs = options.quick ? 1000 : 10_000;
  const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
  const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-bench-'));
  const { server, wsUrl } = await startTestServer({ provider, dataDir });
  const engineTarget = { urls: [] as string[], externalIds: [] as string[] };
  const templates: JobSnapshot[] = [];
  for (let i = 0; i < JOBS; i++) {
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: `https://example.com/take-${i}.wav` }, name: `take ${i}` });
    engineTarget.urls.push(`${server.url}/v1/hooks/fake/${tokenOf(provider.created[i]!.webhookUrl)}`);
    engineTarget.externalIds.push(job.externalId!);
    templates.push(job);
  }
  const relay = await startRelay(templates);
  const relayTarget = { urls: templates.map((_, j) => `http://127.0.0.1:${relay.port}/hook/${j}`), externalIds: engineTarget.externalIds };

  const fleet = await BenchChild.start(new URL('./lib/subscriber-fleet.ts', import.meta.url), { fds: 2 * SUBSCRIBERS + 200 });
  const sender = await BenchChild.start(new URL('./lib/webhook-sender.ts', import.meta.url), { fds: 1000 });
  try {
    await fleet.call('connect', { name: 'engine', url: wsUrl, count: SUBSCRIBERS, headers: { authorization: `Bearer ${TOKEN}` }, subscribe: JSON.stringify({ type: 'subscribe', sub: 'all' }) });
    await fleet.call('connect', { name: 'relay', url: relay.url, count: SUBSCRIBERS });
    await until(() => server.hub.clientCount === SUBSCRIBERS && relay.wss.clients.size === SUBSCRIBERS, 'all subscribers');

    let base = 0;
    // A shared box's capacity drifts, so the relay's ceiling is measured again at the start of
    // every round, and both systems of the round run at half of it.
    let rate = 0;
    const ceilings: number[] = [];
    const run = async (name: 'engine' | 'relay'): Promise<Latency> => {
      if (name === 'engine') {
        const ceiling = await measureCeiling(fleet, sender, { ...relayTarget, base }, options.quick ? 700 : 2000);
        base += ceiling.sent;
        ceilings.push(ceiling.rate);
        rate = ceiling.rate / 2;
      }
      const intervalNs = Math.round(1e9 / rate);
      const count = Math.max(1, Math.round((rate * durationMs) / 1000));
      const target = { ...(name === 'engine' ? engineTarget : relayTarget), base };
      base += count;
      const t0 = String(process.hrtime.bigint() + 200_000_000n);
      await fleet.call('latencyStart', { name, t0, intervalNs, count, base: target.base, jobs: JOBS });
      const cpu = process.cpuUsage();
      const sent = await sender.call<{ statuses: Record<string, number>; sendLateP99Ms: number }>('openLoop', { ...target, t0, intervalNs, count }, durationMs + 120_000);
      const used = process.cpuUsage(cpu);
      const got = await fleet.call<Omit<Latency, 'sendLateP99Ms' | 'statuses' | 'rate' | 'serverCpuMsPerWebhook' | 'serverUtilisation'>>('latencyStop', { name, waitMs: options.quick ? 5000 : 10_000 });
      // JSON has no Infinity: a missing delivery's latency comes back as null.
      const finite = (v: number | null) => (v === null ? Infinity : v);
      const cpuMs = (used.user + used.system) / 1000;
      return { ...got, rate, serverCpuMsPerWebhook: cpuMs / count, serverUtilisation: cpuMs / durationMs, p50: finite(got.p50), p99: finite(got.p99), max: finite(got.max), sendLateP99Ms: sent.sendLateP99Ms, statuses: sent.statuses };
    };
    const { a, b } = await interleave(
      { rounds: options.rounds, warmup: !options.quick, log: options.log, label: 'B2', show: (r) => showLatency(r as Latency) },
      () => run('engine'),
      () => run('relay'),
    );
    const p99 = { engine: median(a.map((r) => r.p99)), relay: median(b.map((r) => r.p99)) };
    const p50 = { engine: median(a.map((r) => r.p50)), relay: median(b.map((r) => r.p50)) };
    const medianRate = median(a.map((r) => r.rate));
    const details = {
      subscribers: SUBSCRIBERS,
      relayCeilingPerRound: ceilings,
      serverCpuMsPerWebhook: { engine: median(a.map((r) => r.serverCpuMsPerWebhook)), relay: median(b.map((r) => r.serverCpuMsPerWebhook)) },
      ratePerRound: a.map((r) => r.rate),
      durationMs,
      p99RatioRange: range(a.map((r, i) => r.p99 / b[i]!.p99)),
      engine: a,
      relay: b,
    };
    return [
      {
        id: 'B2',
        measure: `webhook → ${SUBSCRIBERS.toLocaleString('en-US')} subscribers, p99, open loop at ½ relay ceiling (median ${fmt(medianRate)}/s)`,
        engine: `${fmt(p99.engine)} ms`,
        baseline: `${fmt(p99.relay)} ms`,
        ratio: p99.engine / p99.relay,
        target: '≤ 1.1x',
        met: p99.engine / p99.relay <= 1.1,
        details,
      },
      {
        id: 'B2',
        measure: `webhook → ${SUBSCRIBERS.toLocaleString('en-US')} subscribers, p50 (same runs)`,
        engine: `${fmt(p50.engine)} ms`,
        baseline: `${fmt(p50.relay)} ms`,
        ratio: p50.engine / p50.relay,
        target: '—',
        met: undefined,
      },
    ];
  } finally {
    await sender.stop();
    await fleet.stop();
    await relay.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The relay's ceiling: webhooks per second delivered to every subscriber under closed-loop load. */
async function measureCeiling(
  fleet: BenchChild,
  sender: BenchChild,
  target: { urls: string[]; externalIds: string[]; base: number },
  durationMs: number,
): Promise<{ rate: number; sent: number }> {
  let delivered = 0;
  const off = fleet.on('progress', (data) => {
    const progress = data as { name: string; changes: number };
    if (progress.name === 'relay') delivered = progress.changes;
  });
  try {
    await fleet.call('countStart', { name: 'relay', step: 1 });
    const t0 = performance.now();
    const { sent } = await sender.call<{ sent: number }>('closedLoop', { ...target, concurrency: 32, durationMs }, durationMs + 60_000);
    await until(() => delivered >= sent, 'the ceiling run to be delivered', 60_000);
    const seconds = (performance.now() - t0) / 1000;
    await fleet.call('countStop', { name: 'relay' });
    return { rate: sent / seconds, sent };
  } finally {
    off();
  }
}

/** The baseline relay: POST /hook/:j → the same change message, serialised once, broadcast with ws, then 200. */
async function startRelay(templates: JobSnapshot[]): Promise<BareWsServer> {
  let seq = 0;
  const versions = templates.map((t) => t.version);
  const relay: BareWsServer = await startBareWsServer((request: IncomingMessage, response: ServerResponse) => {
    const j = Number(/^\/hook\/(\d+)$/.exec(request.url ?? '')?.[1] ?? -1);
    const template = templates[j];
    if (request.method !== 'POST' || template === undefined) {
      response.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body: { status?: unknown; progress?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        response.writeHead(400).end();
        return;
      }
      const version = (versions[j] = versions[j]! + 1);
      const job = { ...template, status: 'running', providerStatus: String(body.status), progress: Number(body.progress), version, updatedAt: Date.now(), source: 'webhook' };
      relay.broadcast(Buffer.from(JSON.stringify({ type: 'change', sub: 'all', epoch: 'relay', changes: [{ seq: ++seq, job, previousStatus: 'running' }] })));
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outcome: 'applied', jobId: template.id, version }));
    });
  });
  return relay;
}

function showLatency(r: Latency): string {
  return `${fmt(r.rate)}/s (server cpu ${fmt(r.serverCpuMsPerWebhook)} ms/webhook, ${Math.round(r.serverUtilisation * 100)}%): p50 ${fmt(r.p50)} ms p99 ${fmt(r.p99)} ms max ${fmt(r.max)} ms missing ${r.missing} send-late p99 ${fmt(r.sendLateP99Ms)} ms ${JSON.stringify(r.statuses)}`;
}
