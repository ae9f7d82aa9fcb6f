/**
 * Child process (run with --expose-gc, fresh for every measurement): a WebSocket server whose
 * heap is measured with N idle subscribers connected: either the jobstream server (hub, engine
 * with the fake provider, MemoryStore, ten jobs) or a bare `ws` server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeProvider } from '../../test/support/fake-provider.js';
import { startTestServer, TOKEN } from '../../test/support/test-server.js';
import { startBareWsServer, until } from './bare-ws.js';
import { serveParent, settledHeap } from './child-side.js';

let count: () => number = () => 0;
let close: () => Promise<void> = () => Promise.resolve();

serveParent({
  async listen(args: { variant: 'jobstream' | 'bare' }) {
    if (args.variant === 'bare') {
      const bare = await startBareWsServer();
      bare.wss.on('connection', (ws) => ws.on('message', () => undefined));
      count = () => bare.wss.clients.size;
      close = () => bare.close();
      return { url: bare.url, headers: {} };
    }
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-bench-'));
    const { server, wsUrl } = await startTestServer({ provider, dataDir });
    for (let i = 0; i < 10; i++) {
      await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: `https://example.com/take-${i}.wav` } });
    }
    count = () => server.hub.clientCount;
    close = async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    };
    return { url: wsUrl, headers: { authorization: `Bearer ${TOKEN}` } };
  },

  /** Heap used after GC once exactly `clients` connections are open. */
  async heap(args: { clients: number }) {
    await until(() => count() === args.clients, `${args.clients} connections`, 60_000);
    const heapUsed = await settledHeap();
    const { rss, external, arrayBuffers } = process.memoryUsage();
    return { heapUsed, rss, external, arrayBuffers };
  },

  async close() {
    await close();
  },
});
