import { BenchChild } from './lib/child.js';
import { type Instance, processCpuMs, redisServerVersion, startBenchRedis, startInstances, stopInstances } from './lib/cluster-instances.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';
import { TOKEN } from '../test/support/test-server.js';

/** Webhooks per second, open loop: the rate the goal names, and a lower one (the path's own cost, below saturation). */
const RATE = 1000;
const LOW_RATE = 200;
const JOBS = 100;
const SUBSCRIBERS = 1;
const RATIO_GOAL = 1.5;
const ADDED_GOAL_MS = 5;

interface Latency {
  p50: number;
  p99: number;
  max: number;
  missing: number;
  /** Non-200 answers to webhooks. */
  refused: number;
  /** CPU time of the server side (members and Redis, or the one process) per webhook, ms. */
  cpuMsPerWebhook: number;
  /** The same by process: A, B, Redis (or the one process). */
  cpuMsPerWebhookBy: number[];
  sendLateP99Ms: number;
  /** Cluster runs: the same figures for a subscriber at A, the member that took the webhooks. */
  atA?: { p50: number; p99: number };
}

/** The medians of one rate's interleaved rounds. */
interface RateResult {
  rate: number;
  p99: { cluster: number; embedded: number; atA: number };
  p50: { cluster: number; embedded: number };
  cpu: { cluster: number; embedded: number };
  /** Deliveries missing and webhooks refused, over all rounds (must be 0). */
  failures: number;
  details: Record<string, unknown>;
}

/**
 * B8: webhook at one cluster member → WebSocket subscriber at another, against the same path in
 * one embedded process. A sender process POSTs webhooks open loop (each at its scheduled time, so
 * a backlog cannot hide) at 1,000/s, then at 200/s, to member A; the subscriber is connected to
 * member B, which learns of each change by reading the Redis Stream, so every delivery crosses
 * A → Redis (Lua commit, `appendfsync always`) → B. The baseline is one process with the default
 * embedded store (journal fsynced before the webhook's 200) taking the same webhooks and serving
 * the same kind of subscriber. Latency: from the webhook's scheduled send time to the
 * subscriber's receipt (B2's harness). The systems' rounds are interleaved.
 */
export async function clusterLatency(options: BenchOptions): Promise<Row[]> {
  const durationMs = options.quick ? 1000 : 10_000;
  const redis = await startBenchRedis();
  let instances: Instance[] = [];
  let fleet: BenchChild | undefined;
  let sender: BenchChild | undefined;
  try {
    const cluster = { mode: 'cluster', redisUrl: redis.url, provider: { type: 'fake' } } as const;
    const [children, fleetChild, senderChild] = await Promise.all([
      startInstances([cluster, cluster, { mode: 'embedded', provider: { type: 'fake' } }]),
      BenchChild.start(new URL('./lib/subscriber-fleet.ts', import.meta.url), { fds: 4 * SUBSCRIBERS + 200 }),
      BenchChild.start(new URL('./lib/webhook-sender.ts', import.meta.url), { fds: 1000 }),
    ]);
    instances = children;
    fleet = fleetChild;
    sender = senderChild;
    const [a, b, embedded] = instances as [Instance, Instance, Instance];
    const target = async (at: Instance, to: Instance) => {
      const jobs = await at.child.call<{ hookPaths: string[]; externalIds: string[] }>('submit', { count: JOBS }, 120_000);
      return { urls: jobs.hookPaths.map((path) => `${to.info.url}${path}`), externalIds: jobs.externalIds };
    };
    // The jobs are submitted at B and their webhooks go to A: each change crosses the cluster.
    const targets = { cluster: await target(b, a), embedded: await target(embedded, embedded) };
    const subscribe = JSON.stringify({ type: 'subscribe', sub: 'all' });
    const headers = { authorization: `Bearer ${TOKEN}` };
    await fleet.call('connect', { name: 'cluster', url: b.info.wsUrl, count: SUBSCRIBERS, headers, subscribe });
    // A diagnostic subscriber at A: the member that commits also publishes only what it reads back from the log.
    await fleet.call('connect', { name: 'cluster-a', url: a.info.wsUrl, count: SUBSCRIBERS, headers, subscribe });
    await fleet.call('connect', { name: 'embedded', url: embedded.info.wsUrl, count: SUBSCRIBERS, headers, subscribe });

    let base = 0;
    const run = async (name: 'cluster' | 'embedded', rate: number, round: number): Promise<Latency> => {
      // The warm-up pair (round -1) is short: it only has to wake the JIT and the connections up.
      const ms = round < 0 ? Math.min(500, durationMs) : durationMs;
      const count = Math.round((rate * ms) / 1000);
      const to = { ...targets[name], base };
      base += count;
      const pids = name === 'cluster' ? [a.child.pid, b.child.pid, redis.child.pid] : [embedded.child.pid];
      const intervalNs = Math.round(1e9 / rate);
      const t0 = String(process.hrtime.bigint() + 200_000_000n);
      const timed = name === 'cluster' ? ['cluster', 'cluster-a'] : [name];
      for (const group of timed) await fleet!.call('latencyStart', { name: group, t0, intervalNs, count, base: to.base, jobs: JOBS });
      const cpu0 = pids.map(processCpuMs);
      const sent = await sender!.call<{ statuses: Record<string, number>; sendLateP99Ms: number }>('openLoop', { ...to, t0, intervalNs, count }, ms + 120_000);
      type Got = { p50: number | null; p99: number | null; max: number | null; missing: number };
      const [got, gotAtA] = await Promise.all(timed.map((group) => fleet!.call<Got>('latencyStop', { name: group, waitMs: 5000 })));
      if (got === undefined) throw new Error('no latency figures');
      const cpuBy = pids.map((pid, i) => processCpuMs(pid) - cpu0[i]!);
      const cpuMs = cpuBy.reduce((sum, v) => sum + v, 0);
      // JSON has no Infinity: a missing delivery's latency comes back as null.
      const finite = (v: number | null) => (v === null ? Infinity : v);
      const refused = Object.entries(sent.statuses).reduce((n, [status, k]) => (status === '200' ? n : n + k), 0);
      const atA = gotAtA === undefined ? {} : { atA: { p50: finite(gotAtA.p50), p99: finite(gotAtA.p99) } };
      return { p50: finite(got.p50), p99: finite(got.p99), max: finite(got.max), missing: got.missing + (gotAtA?.missing ?? 0), refused, cpuMsPerWebhook: cpuMs / count, cpuMsPerWebhookBy: cpuBy.map((v) => v / count), sendLateP99Ms: sent.sendLateP99Ms, ...atA };
    };
    const measure = async (rate: number, warmup: boolean): Promise<RateResult> => {
      const { a: clusterRuns, b: embeddedRuns } = await interleave(
        { rounds: options.rounds, warmup, log: options.log, label: `B8 ${rate}/s`, show: (r) => show(r as Latency) },
        (round) => run('cluster', rate, round),
        (round) => run('embedded', rate, round),
      );
      const mid = (runs: Latency[], pick: (r: Latency) => number) => median(runs.map(pick));
      return {
        rate,
        p99: { cluster: mid(clusterRuns, (r) => r.p99), embedded: mid(embeddedRuns, (r) => r.p99), atA: mid(clusterRuns, (r) => r.atA?.p99 ?? Number.NaN) },
        p50: { cluster: mid(clusterRuns, (r) => r.p50), embedded: mid(embeddedRuns, (r) => r.p50) },
        cpu: { cluster: mid(clusterRuns, (r) => r.cpuMsPerWebhook), embedded: mid(embeddedRuns, (r) => r.cpuMsPerWebhook) },
        failures: [...clusterRuns, ...embeddedRuns].reduce((n, r) => n + r.missing + r.refused, 0),
        details: {
          rate,
          p99RatioRange: range(clusterRuns.map((r, i) => r.p99 / embeddedRuns[i]!.p99)),
          addedP99Range: range(clusterRuns.map((r, i) => r.p99 - embeddedRuns[i]!.p99)),
          cluster: clusterRuns,
          embedded: embeddedRuns,
        },
      };
    };
    const high = await measure(RATE, true);
    const low = await measure(LOW_RATE, false);
    const details = { subscribers: SUBSCRIBERS, jobs: JOBS, durationMs, redis: { version: redisServerVersion(), appendfsync: 'always' }, rates: [high.details, low.details] };
    const lost = (r: RateResult) => (r.failures === 0 ? '' : ` (${r.failures} deliveries missing or webhooks refused)`);
    const ratio = high.p99.cluster / high.p99.embedded;
    const added = high.p99.cluster - high.p99.embedded;
    return [
      {
        id: 'B8',
        measure: `webhook at member A → subscriber at member B, p99, ${fmt(RATE)} webhooks/s open loop; baseline one embedded process${lost(high)}`,
        engine: `${fmt(high.p99.cluster)} ms`,
        baseline: `${fmt(high.p99.embedded)} ms`,
        ratio,
        target: `≤ ${RATIO_GOAL}x`,
        met: ratio <= RATIO_GOAL && high.failures === 0,
        details,
      },
      {
        id: 'B8',
        measure: `added p99 at ${fmt(RATE)}/s (cluster − embedded, same runs)`,
        engine: `${fmt(added)} ms`,
        baseline: '—',
        ratio: undefined,
        target: `≤ ${ADDED_GOAL_MS} ms`,
        met: added <= ADDED_GOAL_MS && high.failures === 0,
      },
      {
        id: 'B8',
        measure: `p50 at ${fmt(RATE)}/s (same runs)`,
        engine: `${fmt(high.p50.cluster)} ms`,
        baseline: `${fmt(high.p50.embedded)} ms`,
        ratio: high.p50.cluster / high.p50.embedded,
        target: '—',
        met: undefined,
      },
      {
        id: 'B8',
        measure: `p99 at ${fmt(RATE)}/s of a subscriber at A, the member that took the webhooks (same runs)`,
        engine: `${fmt(high.p99.atA)} ms`,
        baseline: `${fmt(high.p99.embedded)} ms`,
        ratio: high.p99.atA / high.p99.embedded,
        target: '—',
        met: undefined,
      },
      {
        id: 'B8',
        measure: `server CPU per webhook at ${fmt(RATE)}/s (members A, B and Redis; the one process)`,
        engine: `${fmt(high.cpu.cluster)} ms`,
        baseline: `${fmt(high.cpu.embedded)} ms`,
        ratio: high.cpu.cluster / high.cpu.embedded,
        target: '—',
        met: undefined,
      },
      {
        id: 'B8',
        measure: `p99 at ${LOW_RATE} webhooks/s (below saturation; added ${fmt(low.p99.cluster - low.p99.embedded)} ms)${lost(low)}`,
        engine: `${fmt(low.p99.cluster)} ms`,
        baseline: `${fmt(low.p99.embedded)} ms`,
        ratio: low.p99.cluster / low.p99.embedded,
        target: '—',
        met: undefined,
      },
      {
        id: 'B8',
        measure: `p50 at ${LOW_RATE} webhooks/s (same runs)`,
        engine: `${fmt(low.p50.cluster)} ms`,
        baseline: `${fmt(low.p50.embedded)} ms`,
        ratio: low.p50.cluster / low.p50.embedded,
        target: '—',
        met: undefined,
      },
    ];
  } finally {
    await sender?.stop();
    await fleet?.stop();
    await stopInstances(instances);
    await redis.close();
  }
}

function show(r: Latency): string {
  const atA = r.atA === undefined ? '' : ` (at A: p50 ${fmt(r.atA.p50)} ms p99 ${fmt(r.atA.p99)} ms)`;
  return `p50 ${fmt(r.p50)} ms p99 ${fmt(r.p99)} ms max ${fmt(r.max)} ms${atA}, cpu ${fmt(r.cpuMsPerWebhook)} ms/webhook (${r.cpuMsPerWebhookBy.map((v) => fmt(v)).join('/')}), missing ${r.missing}, refused ${r.refused}, send-late p99 ${fmt(r.sendLateP99Ms)} ms`;
}
