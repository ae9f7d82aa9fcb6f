import { open, mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/server.js';
import type { JobSnapshot } from '../src/streams/job-snapshot.js';
import { FakeProvider, tokenOf } from '../test/support/fake-provider.js';
import { startBareWsServer, until, type BareWsServer } from './lib/bare-ws.js';
import { BenchChild } from './lib/child.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

const SUBSCRIBERS = 1000;
const JOBS = 50;
const TOKEN = 'bench-b10-token-0123456789';

interface Run {
  /** Webhooks answered 2xx per second (each one durable first). */
  rate: number;
  sent: number;
  /** Share of the acknowledged changes the slowest subscriber received (1: every change). */
  deliveredShare: number;
  /** Webhooks not answered 200. */
  failed: number;
}

/**
 * B10: what a user running `jobstream serve` cares about end to end. Webhooks per second one
 * server accepts durably (a 2xx only after fsync: the FileStore's group commit) while 1,000
 * WebSocket subscribers receive every change, closed loop (32 in flight); against a bare Node
 * HTTP server that appends each webhook to a file, fsyncs it (the same policy: durable before the
 * answer), then relays it over `ws`. Each round runs both; the slowest subscriber's share of the
 * acknowledged changes is reported with each.
 */
export async function durableThroughput(options: BenchOptions): Promise<Row[]> {
  const durationMs = options.quick ? 1500 : 10_000;
  const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
  const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-bench-b10-'));
  // The durable FileStore in a data directory (fsync on every group commit), as `serve` runs.
  const server = await startServer({ providers: [provider], token: TOKEN, port: 0, dataDir });
  const templates: JobSnapshot[] = [];
  const engineTarget = { urls: [] as string[], externalIds: [] as string[] };
  for (let i = 0; i < JOBS; i++) {
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: `https://example.com/take-${i}.wav` }, name: `take ${i}` });
    engineTarget.urls.push(`${server.url}/v1/hooks/fake/${tokenOf(provider.created[i]!.webhookUrl)}`);
    engineTarget.externalIds.push(job.externalId!);
    templates.push(job);
  }
  const relay = await startDurableRelay(templates, join(dataDir, 'relay.jsonl'));
  const relayTarget = { urls: templates.map((_, j) => `http://127.0.0.1:${relay.server.port}/hook/${j}`), externalIds: engineTarget.externalIds };
  const fleet = await BenchChild.start(new URL('./lib/subscriber-fleet.ts', import.meta.url), { fds: 2 * SUBSCRIBERS + 200 });
  const sender = await BenchChild.start(new URL('./lib/webhook-sender.ts', import.meta.url), { fds: 1000 });
  let base = 0;
  try {
    await fleet.call('connect', { name: 'engine', url: `${server.url.replace('http', 'ws')}/v1/stream`, count: SUBSCRIBERS, headers: { authorization: `Bearer ${TOKEN}` }, subscribe: JSON.stringify({ type: 'subscribe', sub: 'all' }) });
    await fleet.call('connect', { name: 'relay', url: relay.server.url, count: SUBSCRIBERS });
    await until(() => server.hub.clientCount === SUBSCRIBERS && relay.server.wss.clients.size === SUBSCRIBERS, 'all subscribers');
    const run = async (name: 'engine' | 'relay'): Promise<Run> => {
      let delivered = 0;
      const off = fleet.on('progress', (data) => {
        const progress = data as { name: string; changes: number };
        if (progress.name === name) delivered = progress.changes;
      });
      try {
        await fleet.call('countStart', { name, step: 1 });
        const t0 = performance.now();
        const target = { ...(name === 'engine' ? engineTarget : relayTarget), base };
        const result = await sender.call<{ sent: number; failed: number }>('closedLoop', { ...target, concurrency: 32, durationMs }, durationMs + 60_000);
        const seconds = (performance.now() - t0) / 1000;
        base += result.sent;
        // Deliveries may trail the answers a little: wait for them, bounded.
        await until(() => delivered >= result.sent, `${name}: every change delivered`, 15_000).catch(() => undefined);
        const counts = await fleet.call<{ min: number }>('countStop', { name });
        const ok = result.sent - result.failed;
        return { rate: ok / seconds, sent: result.sent, deliveredShare: counts.min / Math.max(1, ok), failed: result.failed };
      } finally {
        off();
      }
    };
    const { a, b } = await interleave(
      { rounds: options.rounds, warmup: !options.quick, log: options.log, label: 'B10', show: (r) => `${fmt((r as Run).rate)} webhooks/s, slowest subscriber got ${Math.round((r as Run).deliveredShare * 100)}%` },
      () => run('engine'),
      () => run('relay'),
    );
    const engine = median(a.map((r) => r.rate));
    const bare = median(b.map((r) => r.rate));
    return [
      {
        id: 'B10',
        measure: `durable webhooks/s (2xx after fsync) with ${SUBSCRIBERS.toLocaleString('en-US')} subscribers receiving every change, 32 in flight`,
        engine: `${fmt(engine)}/s`,
        baseline: `${fmt(bare)}/s`,
        ratio: engine / bare,
        target: '≥ 0.8x',
        met: engine / bare >= 0.8,
        details: {
          durationMs,
          deliveredShare: { engine: a.map((r) => r.deliveredShare), relay: b.map((r) => r.deliveredShare) },
          ratioRange: range(a.map((r, i) => r.rate / b[i]!.rate)),
          engine: a,
          relay: b,
        },
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

/**
 * The baseline: POST /hook/:j → append the webhook as a line to a file, fdatasync it, then
 * broadcast the change (serialised once) with ws and answer 200. Durable before the answer, like
 * the engine, but one fsync per webhook (what a bare server does without a group commit).
 */
async function startDurableRelay(templates: JobSnapshot[], file: string): Promise<{ server: BareWsServer; close: () => Promise<void> }> {
  const handle = await open(file, 'a', 0o600);
  let seq = 0;
  const versions = templates.map((t) => t.version);
  const server = await startBareWsServer((request: IncomingMessage, response: ServerResponse) => {
    const j = Number(/^\/hook\/(\d+)$/.exec(request.url ?? '')?.[1] ?? -1);
    const template = templates[j];
    if (request.method !== 'POST' || template === undefined) {
      response.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: { status?: unknown; progress?: unknown };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        response.writeHead(400).end();
        return;
      }
      const version = (versions[j] = versions[j]! + 1);
      const job = { ...template, status: 'running', providerStatus: String(body.status), progress: Number(body.progress), version, updatedAt: Date.now(), source: 'webhook' };
      const line = `${JSON.stringify(job)}\n`;
      void (async () => {
        await handle.write(line);
        await handle.datasync();
        server.broadcast(Buffer.from(JSON.stringify({ type: 'change', sub: 'all', epoch: 'relay', changes: [{ seq: ++seq, job, previousStatus: 'running' }] })));
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outcome: 'applied', jobId: template.id, version }));
      })().catch(() => response.writeHead(503).end());
    });
  });
  return {
    server,
    close: async () => {
      await server.close();
      await handle.close();
    },
  };
}
