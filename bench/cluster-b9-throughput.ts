import { BenchChild } from './lib/child.js';
import { type Instance, processCpuMs, redisServerVersion, startBenchRedis, startInstances, stopInstances } from './lib/cluster-instances.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';
import { TOKEN } from '../test/support/test-server.js';

const MEMBERS = 3;
const SUBSCRIBERS = 1000;
const JOBS = 64;
/** Webhooks in flight at once (each worker sends to its own jobs, one after another). */
const CONCURRENCY = 32;
/** Changes sent but not yet delivered to every subscriber: bounds every buffer (~120 KB per client). */
const WINDOW = 256;

interface Run {
  /** Changes applied and delivered to every subscriber, per second (start of sending → last delivery). */
  rate: number;
  /** Changes applied per second while sending. */
  appliedRate: number;
  applied: number;
  /** Applied changes some subscriber never got (must be 0), and webhooks not answered 200 `applied`. */
  undelivered: number;
  refused: number;
  /** CPU time of the server side (members and Redis, or the one process) per change, ms. */
  serverCpuMsPerChange: number;
  /** CPU time of the load process (sender and subscribers) per change, ms. */
  loadCpuMsPerChange: number;
  /** Server CPU per change by process (members in order, then Redis; or the one process), ms. */
  cpuMsPerChangeBy: number[];
  /** Changes per message a subscriber received (the hub batches the changes of one tick). */
  changesPerMessage: number;
}

/**
 * B9: cluster throughput. 1,000 WebSocket subscribers of every job, spread evenly over three
 * cluster members (one Redis, `appendfsync always`), receive the changes made by webhooks that
 * arrive round-robin at the three members; the baseline is one embedded process (the default
 * journal store, fsync on) with all 1,000 subscribers and all the webhooks. Figure: changes
 * applied and delivered to every subscriber, per second, with a bounded delivery window (see
 * `lib/cluster-load.ts`). All processes share this machine's cores: on two cores three members
 * cannot scale out, so the ratio is the cluster's overhead, not its capacity.
 */
export async function clusterThroughput(options: BenchOptions): Promise<Row[]> {
  const durationMs = options.quick ? 1000 : 8000;
  const redis = await startBenchRedis();
  let instances: Instance[] = [];
  let load: BenchChild | undefined;
  try {
    const member = { mode: 'cluster', redisUrl: redis.url, provider: { type: 'fake' } } as const;
    const fds = 2 * SUBSCRIBERS + 500;
    const [children, loadChild] = await Promise.all([
      startInstances([...Array.from({ length: MEMBERS }, () => member), { mode: 'embedded', provider: { type: 'fake' } }], { fds }),
      BenchChild.start(new URL('./lib/cluster-load.ts', import.meta.url), { fds: 2 * SUBSCRIBERS + 1000 }),
    ]);
    instances = children;
    load = loadChild;
    const members = instances.slice(0, MEMBERS);
    const embedded = instances[MEMBERS]!;
    const jobsAt = async (at: Instance) => {
      const jobs = await at.child.call<{ hookPaths: string[]; externalIds: string[] }>('submit', { count: JOBS }, 120_000);
      return jobs.hookPaths.map((path, j) => ({ path, externalId: jobs.externalIds[j]! }));
    };
    const jobs = { cluster: await jobsAt(members[0]!), embedded: await jobsAt(embedded) };
    const servers = { cluster: members.map((m) => m.info.url), embedded: [embedded.info.url] };
    const headers = { authorization: `Bearer ${TOKEN}` };
    const subscribe = JSON.stringify({ type: 'subscribe', sub: 'all' });
    await load.call('connect', { name: 'cluster', urls: members.map((m) => m.info.wsUrl), count: SUBSCRIBERS, headers, subscribe }, 180_000);
    await load.call('connect', { name: 'embedded', urls: [embedded.info.wsUrl], count: SUBSCRIBERS, headers, subscribe }, 180_000);

    const run = async (name: 'cluster' | 'embedded', round: number): Promise<Run> => {
      const ms = round < 0 ? Math.min(500, durationMs) : durationMs;
      const pids = name === 'cluster' ? [...members.map((m) => m.child.pid), redis.child.pid] : [embedded.child.pid];
      const cpu0 = pids.map(processCpuMs);
      const got = await load!.call<{ applied: number; other: number; failed: number; undelivered: number; sendMs: number; ms: number; cpuMs: number; messagesPerClient: number }>(
        'run',
        { name, servers: servers[name], jobs: jobs[name], concurrency: CONCURRENCY, window: WINDOW, durationMs: ms, drainMs: 30_000 },
        ms + 120_000,
      );
      const cpuBy = pids.map((pid, i) => processCpuMs(pid) - cpu0[i]!);
      const serverCpuMs = cpuBy.reduce((sum, v) => sum + v, 0);
      return {
        rate: (got.applied - got.undelivered) / (got.ms / 1000),
        appliedRate: got.applied / (got.sendMs / 1000),
        applied: got.applied,
        undelivered: got.undelivered,
        refused: got.other + got.failed,
        serverCpuMsPerChange: serverCpuMs / got.applied,
        loadCpuMsPerChange: got.cpuMs / got.applied,
        cpuMsPerChangeBy: cpuBy.map((v) => v / got.applied),
        changesPerMessage: got.applied / got.messagesPerClient,
      };
    };
    const { a: clusterRuns, b: embeddedRuns } = await interleave(
      { rounds: options.rounds, warmup: true, log: options.log, label: 'B9', show: (r) => show(r as Run) },
      (round) => run('cluster', round),
      (round) => run('embedded', round),
    );
    const rate = { cluster: median(clusterRuns.map((r) => r.rate)), embedded: median(embeddedRuns.map((r) => r.rate)) };
    const cpu = { cluster: median(clusterRuns.map((r) => r.serverCpuMsPerChange)), embedded: median(embeddedRuns.map((r) => r.serverCpuMsPerChange)) };
    const lost = [...clusterRuns, ...embeddedRuns].reduce((n, r) => n + r.undelivered + r.refused, 0);
    const details = {
      members: MEMBERS,
      subscribers: SUBSCRIBERS,
      jobs: JOBS,
      concurrency: CONCURRENCY,
      window: WINDOW,
      durationMs,
      redis: { version: redisServerVersion(), appendfsync: 'always' },
      ratioRange: range(clusterRuns.map((r, i) => r.rate / embeddedRuns[i]!.rate)),
      cluster: clusterRuns,
      embedded: embeddedRuns,
    };
    return [
      {
        id: 'B9',
        measure: `changes/s applied and delivered to ${fmt(SUBSCRIBERS)} subscribers: ${MEMBERS} members (subscribers and webhooks spread over them) vs one embedded process${lost === 0 ? '' : ` (${lost} changes lost or webhooks refused)`}`,
        engine: `${fmt(rate.cluster)}/s`,
        baseline: `${fmt(rate.embedded)}/s`,
        ratio: rate.cluster / rate.embedded,
        target: 'report (2 cores: overhead)',
        met: undefined,
        details,
      },
      {
        id: 'B9',
        measure: `server CPU per change (${MEMBERS} members and Redis; the one process), same runs`,
        engine: `${fmt(cpu.cluster)} ms`,
        baseline: `${fmt(cpu.embedded)} ms`,
        ratio: cpu.cluster / cpu.embedded,
        target: '—',
        met: undefined,
      },
    ];
  } finally {
    await load?.stop();
    await stopInstances(instances);
    await redis.close();
  }
}

function show(r: Run): string {
  return `${fmt(r.rate)}/s delivered (${fmt(r.appliedRate)}/s applied, ${r.applied} changes), server cpu ${fmt(r.serverCpuMsPerChange)} ms/change, load cpu ${fmt(r.loadCpuMsPerChange)} ms/change, by process ${r.cpuMsPerChangeBy.map((v) => fmt(v)).join('/')}, ${fmt(r.changesPerMessage)} changes/message, undelivered ${r.undelivered}, refused ${r.refused}`;
}
