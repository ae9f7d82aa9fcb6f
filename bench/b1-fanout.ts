import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import type { Engine } from '../src/streams/engine.js';
import type { JobSnapshot } from '../src/streams/job-snapshot.js';
import { FakeProvider, tokenOf } from '../test/support/fake-provider.js';
import { startTestServer, TOKEN } from '../test/support/test-server.js';
import { startBareWsServer, until, type BareWsServer } from './lib/bare-ws.js';
import { BenchChild } from './lib/child.js';
import { cpuShares, cpuTimes } from './lib/cpu-stat.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

const CLIENTS = 1000;
const JOBS = 100;
/** Changes issued but not yet delivered to every client: bounds buffers (~60 KB per client) yet keeps both processes busy. */
const WINDOW = 128;

interface Run {
  /** Deliveries (change × subscriber) per second. */
  rate: number;
  ms: number;
  /** CPU time ÷ wall time of the server process and of the subscriber process. */
  serverCpu: number;
  clientCpu: number;
  /** Server CPU time per delivery (µs): the steadier figure on a shared box. */
  serverUsPerDelivery: number;
  /** What the subscribers received: messages per client, bytes per change delivered. */
  received: { messagesPerClient: number; bytesPerDelivery: number };
  /** Where the whole machine's CPU time went during the run (user, system, softirq, steal, idle). */
  machine: ReturnType<typeof cpuShares>;
}

/** A fake provider job the benchmark moves by webhook. */
interface HookedJob {
  token: string;
  externalId: string;
  snapshot: JobSnapshot;
  progress: number;
}

/**
 * B1: fan-out throughput. 1,000 WebSocket subscribers of every job (in a child process) receive
 * changes produced through the engine (webhook ingests on a FakeProvider, MemoryStore) and sent
 * by the jobstream hub; the baseline is a bare `ws` server sending the same payloads with ws's
 * documented broadcast loop. Run once with one change per event-loop turn (nothing to batch) and
 * once with ten (what the hub's per-tick batching can use).
 */
export async function fanout(options: BenchOptions): Promise<Row[]> {
  const total = options.quick ? 150 : 2000;
  const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
  const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-bench-'));
  const { server, wsUrl } = await startTestServer({ provider, dataDir });
  const engine = server.engine;
  const jobs: HookedJob[] = [];
  for (let i = 0; i < JOBS; i++) {
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: `https://example.com/take-${i}.wav` }, name: `take ${i}` });
    jobs.push({ token: tokenOf(provider.created[i]!.webhookUrl), externalId: job.externalId!, snapshot: job, progress: 0 });
  }
  const bare = await startBareWsServer();
  const fleet = await BenchChild.start(new URL('./lib/subscriber-fleet.ts', import.meta.url), { fds: 2 * CLIENTS + 200 });
  const rows: Row[] = [];
  try {
    await fleet.call('connect', { name: 'engine', url: wsUrl, count: CLIENTS, headers: { authorization: `Bearer ${TOKEN}` }, subscribe: JSON.stringify({ type: 'subscribe', sub: 'all' }) });
    await fleet.call('connect', { name: 'bare', url: bare.url, count: CLIENTS });
    await until(() => server.hub.clientCount === CLIENTS && bare.wss.clients.size === CLIENTS, 'all subscribers');

    const seq = { value: 0 };
    for (const burst of [1, 10]) {
      const engineRun = () => drive(fleet, 'engine', total, burst, (first, count) => ingest(engine, jobs, first, count));
      const bareRun = () => drive(fleet, 'bare', total, burst, (first, count) => broadcastBare(bare, engine, jobs, first, count, seq));
      const { a, b } = await interleave({ rounds: options.rounds, warmup: !options.quick, log: options.log, label: `B1 burst ${burst}`, show: (r) => showRun(r as Run) }, engineRun, bareRun);
      const engineRate = median(a.map((r) => r.rate));
      const bareRate = median(b.map((r) => r.rate));
      const ratio = engineRate / bareRate;
      rows.push({
        id: 'B1',
        measure: `fan-out to ${CLIENTS.toLocaleString('en-US')} subscribers, ${burst} change${burst === 1 ? '' : 's'} per tick`,
        engine: `${fmt(engineRate)} deliveries/s`,
        baseline: `${fmt(bareRate)} deliveries/s`,
        ratio,
        target: '≥ 1.0x',
        met: ratio >= 1,
        details: {
          changesPerRun: total,
          engineBytesPerChange: sampleChangeBytes(engine, jobs),
          serverUsPerDelivery: { engine: median(a.map((r) => r.serverUsPerDelivery)), bare: median(b.map((r) => r.serverUsPerDelivery)) },
          burst,
          window: WINDOW,
          ratioRange: range(a.map((r, i) => r.rate / b[i]!.rate)),
          engine: a,
          bare: b,
        },
      });
    }
  } finally {
    await fleet.stop();
    await bare.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return rows;
}

/** Issues `total` changes in bursts, at most {@link WINDOW} ahead of full delivery; times it. */
async function drive(fleet: BenchChild, name: string, total: number, burst: number, issue: (first: number, count: number) => void): Promise<Run> {
  let completed = 0;
  let wake: (() => void) | undefined;
  const off = fleet.on('progress', (data) => {
    const progress = data as { name: string; changes: number };
    if (progress.name !== name) return;
    completed = progress.changes;
    wake?.();
  });
  try {
    const start = await fleet.call<{ cpu: NodeJS.CpuUsage }>('countStart', { name, step: burst });
    const cpu = process.cpuUsage();
    const machine = cpuTimes();
    const t0 = performance.now();
    let issued = 0;
    while (completed < total) {
      if (issued < total && issued - completed < WINDOW) {
        issue(issued, burst);
        issued += burst;
        await nextTick();
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`B1 ${name}: no delivery progress for 30 s (${completed}/${total})`)), 30_000);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
    const ms = performance.now() - t0;
    const serverCpu = process.cpuUsage(cpu);
    const shares = cpuShares(machine, cpuTimes());
    const stop = await fleet.call<{ min: number; messages: number; bytes: number; closedEarly: number; cpu: NodeJS.CpuUsage }>('countStop', { name });
    if (stop.closedEarly > 0) throw new Error(`B1 ${name}: ${stop.closedEarly} subscribers were disconnected`);
    const clientUs = stop.cpu.user + stop.cpu.system - start.cpu.user - start.cpu.system;
    return {
      rate: (total * CLIENTS) / (ms / 1000),
      ms,
      serverCpu: (serverCpu.user + serverCpu.system) / 1000 / ms,
      clientCpu: clientUs / 1000 / ms,
      serverUsPerDelivery: (serverCpu.user + serverCpu.system) / (total * CLIENTS),
      received: { messagesPerClient: stop.messages / CLIENTS, bytesPerDelivery: stop.bytes / (total * CLIENTS) },
      machine: shares,
    };
  } finally {
    off();
  }
}

/** Engine side: `count` webhook deliveries, each raising one job's progress. */
function ingest(engine: Engine, jobs: HookedJob[], first: number, count: number): void {
  for (let i = first; i < first + count; i++) {
    const job = jobs[i % jobs.length]!;
    job.progress += 1;
    const body = { id: job.externalId, status: 'WORKING', progress: job.progress / 1e6 };
    engine.ingestWebhook({ provider: 'fake', token: job.token, body }).catch((error: unknown) => {
      console.error('B1 ingest failed', error);
    });
  }
}

/** Baseline side: the same change messages, each serialised once and broadcast. */
function broadcastBare(bare: BareWsServer, engine: Engine, jobs: HookedJob[], first: number, count: number, seq: { value: number }): void {
  for (let i = first; i < first + count; i++) {
    const job = jobs[i % jobs.length]!;
    const progress = (job.progress + i + 1) / 1e6;
    const snapshot = { ...job.snapshot, status: 'running', providerStatus: 'WORKING', progress, version: job.snapshot.version + 1, updatedAt: Date.now(), source: 'webhook' };
    const message = { type: 'change', sub: 'all', epoch: engine.epoch, changes: [{ seq: ++seq.value, job: snapshot, previousStatus: 'running' }] };
    bare.broadcast(Buffer.from(JSON.stringify(message)));
  }
}

/** The size of one engine `change` message carrying one change, as the hub sends it. */
function sampleChangeBytes(engine: Engine, jobs: HookedJob[]): number {
  const job = engine.get(jobs[0]!.snapshot.id);
  return Buffer.byteLength(JSON.stringify({ type: 'change', sub: 'all', epoch: engine.epoch, changes: [{ seq: engine.seq, job, previousStatus: 'running' }] }));
}

function showRun(r: Run): string {
  return `${fmt(r.rate)}/s (${fmt(r.serverUsPerDelivery)} µs server CPU per delivery) cpu server ${r.serverCpu.toFixed(2)} subscribers ${r.clientCpu.toFixed(2)} machine idle ${r.machine.idle} softirq ${r.machine.softirq}`;
}
