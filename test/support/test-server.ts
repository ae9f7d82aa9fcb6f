import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { FakeProvider } from './fake-provider.js';

export const TOKEN = 'test-token-0123456789';

/** A real server on 127.0.0.1:0 with the fake provider and an in-memory store (or the `cluster` given). */
export async function startTestServer(
  options: Partial<ServerOptions> & { provider?: FakeProvider } = {},
): Promise<{ server: RunningServer; provider: FakeProvider; api: (path: string, init?: RequestInit) => Promise<Response>; wsUrl: string }> {
  const provider = options.provider ?? new FakeProvider();
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'jobstream-server-')));
  const started = await startServer({ providers: [provider], token: TOKEN, port: 0, ...(options.cluster === undefined ? { store: new MemoryStore() } : {}), ...options, dataDir });
  // A directory made here is removed with the server.
  const server: RunningServer = ownDir ? { ...started, close: () => started.close().then(() => rm(dataDir, { recursive: true, force: true })) } : started;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });
  return { server, provider, api, wsUrl: `${server.url.replace('http', 'ws')}/v1/stream` };
}
