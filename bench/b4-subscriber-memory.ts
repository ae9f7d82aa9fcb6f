import { BenchChild } from './lib/child.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

interface Memory {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

interface Probe {
  /** Heap bytes per connection: (heap with N subscribers − heap with none) ÷ N. */
  heapPerClient: number;
  rssPerClient: number;
  externalPerClient: number;
  connectMs: number;
}

/**
 * B4: server heap per idle WebSocket subscriber at 5,000 connections: the jobstream server
 * (each client subscribed to every job, as a dashboard would be) against a bare `ws` server.
 * The server runs in a fresh child process per measurement (`--expose-gc`), the clients in
 * another process; heap after GC with no client (after a warm-up) and with all of them.
 */
export async function subscriberMemory(options: BenchOptions): Promise<Row[]> {
  const clients = options.quick ? 1000 : 10_000;
  // One side at a time: both at once would need 2 × clients sockets in the fleet, past the
  // 20,000 open files some machines allow even root.
  const fleet = await BenchChild.start(new URL('./lib/subscriber-fleet.ts', import.meta.url), { fds: clients + 500 });
  let group = 0;
  const probe = (variant: 'jobstream' | 'bare') => async (): Promise<Probe> => {
    const server = await BenchChild.start(new URL('./lib/subscriber-server.ts', import.meta.url), { nodeArgs: ['--expose-gc'], fds: clients + 500 });
    try {
      const { url, headers } = await server.call<{ url: string; headers: Record<string, string> }>('listen', { variant });
      const subscribe = JSON.stringify({ type: 'subscribe', sub: 'all' });
      const connect = async (count: number) => {
        const name = `g${group++}`;
        const { ms } = await fleet.call<{ ms: number }>('connect', { name, url, count, headers, ...(variant === 'jobstream' ? { subscribe } : {}) });
        if (variant === 'bare') await fleet.call('send', { name, text: subscribe });
        return { name, ms };
      };
      // Warm-up: every code path of a connection runs once before the empty measurement.
      const warm = await connect(50);
      await fleet.call('disconnect', { name: warm.name });
      const empty = await server.call<Memory>('heap', { clients: 0 });
      const full = await connect(clients);
      const loaded = await server.call<Memory>('heap', { clients });
      await fleet.call('disconnect', { name: full.name });
      return {
        heapPerClient: (loaded.heapUsed - empty.heapUsed) / clients,
        rssPerClient: (loaded.rss - empty.rss) / clients,
        externalPerClient: (loaded.external - empty.external) / clients,
        connectMs: full.ms,
      };
    } finally {
      await server.call('close', {}, 20_000).catch(() => undefined);
      await server.stop();
    }
  };
  try {
    const a: Probe[] = [];
    const b: Probe[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const jobstream = await probe('jobstream')();
      const bare = await probe('bare')();
      a.push(jobstream);
      b.push(bare);
      options.log(`B4 round ${round + 1}/${options.rounds}: jobstream ${fmt(jobstream.heapPerClient)} B/connection | bare ${fmt(bare.heapPerClient)} B/connection`);
    }
    const engine = median(a.map((p) => p.heapPerClient));
    const bare = median(b.map((p) => p.heapPerClient));
    return [
      {
        id: 'B4',
        measure: `server heap per idle subscriber, ${clients.toLocaleString('en-US')} connections`,
        engine: `${fmt(engine)} B/conn`,
        baseline: `${fmt(bare)} B/conn`,
        ratio: engine / bare,
        target: '≤ 1.3x',
        met: engine / bare <= 1.3,
        details: { clients, ratioRange: range(a.map((p, i) => p.heapPerClient / b[i]!.heapPerClient)), jobstream: a, bare: b },
      },
    ];
  } finally {
    await fleet.stop();
  }
}
