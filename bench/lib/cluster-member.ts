/**
 * Child process: one jobstream server (`startServer`: REST, webhook intake, WebSocket hub), either
 * embedded (the default `FileStore` in its data directory, fsync on) or a member of a cluster
 * (`redisCluster` from `src/cluster`). Its provider is the in-process `FakeProvider` (webhooks,
 * hourly polls: for the latency and throughput benchmarks) or a {@link CountingProvider} that
 * polls the benchmark's provider server over HTTP (for failover). One process per instance, so
 * an instance can be killed with SIGKILL like a real one. Started by {@link BenchChild}.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisCluster } from '../../src/cluster/index.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import type { ProviderAdapter } from '../../src/streams/provider-port.js';
import { FakeProvider, tokenOf } from '../../test/support/fake-provider.js';
import { TOKEN } from '../../test/support/test-server.js';
import { serveParent } from './child-side.js';
import { CountingProvider } from './counting-provider.js';

/** How {@link start} sets an instance up. */
export interface MemberSetup {
  mode: 'embedded' | 'cluster';
  /** The cluster's Redis (mode `cluster`). */
  redisUrl?: string;
  /** The cluster's poll lease (mode `cluster`). @default redisCluster's (60 s) */
  leaseMs?: number;
  /** Data directory to use (an embedded instance restarted on its own data). @default a new temporary one */
  dataDir?: string;
  /** `fake`: in-process, webhooks, hourly polls. `counting`: polls the provider server at `url`. */
  provider: { type: 'fake' } | { type: 'counting'; url: string; member: string; pollPolicy: PollPolicy };
}

/** What the parent needs of a started instance. */
export interface MemberInfo {
  url: string;
  wsUrl: string;
  pid: number;
  /** The log's epoch as clients see it in `hello`. */
  epoch: string;
}

let server: RunningServer | undefined;
let fake: FakeProvider | undefined;
let ownDir: string | undefined;

serveParent({
  async start(setup: MemberSetup): Promise<MemberInfo> {
    if (server !== undefined) throw new Error('already started');
    let provider: ProviderAdapter;
    if (setup.provider.type === 'fake') {
      fake = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
      provider = fake;
    } else {
      provider = new CountingProvider(setup.provider);
    }
    const dataDir = setup.dataDir ?? (ownDir = await mkdtemp(join(tmpdir(), 'jobstream-bench-member-')));
    let cluster;
    if (setup.mode === 'cluster') {
      if (setup.redisUrl === undefined) throw new Error('a cluster member needs redisUrl');
      cluster = await redisCluster({ url: setup.redisUrl, ...(setup.leaseMs === undefined ? {} : { leaseMs: setup.leaseMs }) });
    }
    server = await startServer({ providers: [provider], token: TOKEN, port: 0, dataDir, ...(cluster === undefined ? {} : { cluster }) });
    return { url: server.url, wsUrl: `${server.url.replace('http', 'ws')}/v1/stream`, pid: process.pid, epoch: server.engine.epoch };
  },

  /**
   * Submits `count` jobs here, `everyMs` apart (so that their polls are spread over the interval);
   * for the fake provider, returns each job's webhook path and external id.
   */
  async submit(args: { count: number; everyMs?: number }): Promise<{ ids: string[]; hookPaths: string[]; externalIds: string[] }> {
    if (server === undefined) throw new Error('not started');
    const ids: string[] = [];
    const hookPaths: string[] = [];
    const externalIds: string[] = [];
    for (let i = 0; i < args.count; i++) {
      if (i > 0 && args.everyMs !== undefined) await new Promise((resolve) => setTimeout(resolve, args.everyMs));
      const provider = fake === undefined ? 'counted' : 'fake';
      const job = await server.engine.submit({ provider, kind: 'transcription', input: { type: 'url', url: `https://example.com/take-${i}.wav` }, name: `take ${i}` });
      ids.push(job.id);
      externalIds.push(job.externalId ?? '');
      if (fake !== undefined) hookPaths.push(`/v1/hooks/fake/${tokenOf(fake.created.at(-1)!.webhookUrl)}`);
    }
    return { ids, hookPaths, externalIds };
  },

  /** Open WebSocket connections. */
  clients(): number {
    return server?.hub.clientCount ?? 0;
  },

  async close(): Promise<void> {
    await server?.close();
    server = undefined;
    if (ownDir !== undefined) await rm(ownDir, { recursive: true, force: true });
  },
});
