import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClientChange, type RemoteClient } from '../../src/client/node.js';
import type { ConnectionState } from '../../src/client/stream-connection.js';
import { startKlangioSimulator } from '../../src/simulators/klangio/klangio-simulator.js';
import type { RunningSimulator } from '../../src/simulators/kit/simulator.js';
import { wavFile } from '../../src/simulators/kit/media.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const TOKEN = 'client-e2e-token-0123456789';
const cli = join(import.meta.dirname, '../../src/cli.ts');
let dataDir: string;
let port: number;
let simulator: RunningSimulator;
let server: ChildProcess | undefined;
let proxy: TcpProxy;
const clients: RemoteClient[] = [];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port: free } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return free;
}

/** Starts `jobstream serve` on the fixed port; resolves once it listens. */
async function startServe(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', String(port), '--data', dataDir], {
    env: { ...process.env, JOBSTREAM_TOKEN: TOKEN, KLANGIO_API_KEY: simulator.apiKey, KLANGIO_BASE_URL: simulator.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => line.includes('"msg":"server listening"') && resolve());
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return child;
}

async function stopServe(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'jobstream-client-e2e-'));
  port = await freePort();
  simulator = await startKlangioSimulator({ speed: 30, seed: 3 });
  server = await startServe();
  proxy = await startTcpProxy(port);
});

afterAll(async () => {
  for (const client of clients) await client.close();
  if (server !== undefined && server.exitCode === null) await stopServe(server);
  await proxy.close();
  await simulator.close();
  await rm(dataDir, { recursive: true, force: true });
});

const reached = (client: RemoteClient, wanted: ConnectionState) => firstValueFrom(client.state$.pipe(filter((s) => s === wanted)));

describe('remote client against a real server process', () => {
  it('a subscriber through three forced disconnects and a server restart sees the same versions as one that never disconnected', async () => {
    const steady = await connect({ url: `http://127.0.0.1:${port}`, token: TOKEN, reconnect: { initialMs: 50, maxMs: 300 } });
    const flaky = await connect({ url: `http://127.0.0.1:${proxy.port}`, token: TOKEN, reconnect: { initialMs: 50, maxMs: 300 } });
    clients.push(steady, flaky);
    const seen = new Map<RemoteClient, ClientChange[]>([
      [steady, []],
      [flaky, []],
    ]);
    for (const [client, list] of seen) client.changes$({ providers: ['klangio'] }).subscribe((change) => list.push(change));
    const flakyStates: ConnectionState[] = [];
    flaky.state$.subscribe((state) => flakyStates.push(state));
    await Promise.all([reached(steady, 'open'), reached(flaky, 'open')]);

    const audio = new Blob([wavFile({ seconds: 0.2, channels: 1, sampleRate: 8000 })]);
    const submit = (n: number) =>
      steady.submit({ provider: 'klangio', kind: 'chord-recognition', file: audio, filename: `take-${n}.wav`, name: `take ${n}` });

    // Phase 1: jobs run while the flaky client is cut off three times.
    const first = await Promise.all([submit(1), submit(2), submit(3)]);
    for (let cut = 0; cut < 3; cut++) {
      await firstValueFrom(flaky.changes$({ providers: ['klangio'] }));
      proxy.cutAll();
      await reached(flaky, 'resuming');
      await reached(flaky, 'open');
    }
    await Promise.all(first.map((job) => steady.waitFor(job.id, { timeoutMs: 20_000 })));
    await Promise.all(first.map((job) => flaky.waitFor(job.id, { timeoutMs: 20_000 })));

    // A server restart (clean stop, same data, same port): both clients come back.
    await stopServe(server!);
    server = await startServe();
    await Promise.all([reached(steady, 'open'), reached(flaky, 'open')]);

    // Phase 2: more jobs after the restart.
    const second = await Promise.all([submit(4), submit(5)]);
    await Promise.all(second.map((job) => steady.waitFor(job.id, { timeoutMs: 20_000 })));
    await Promise.all(second.map((job) => flaky.waitFor(job.id, { timeoutMs: 20_000 })));

    const versions = (list: ClientChange[], id: string) => list.filter((c) => c.job.id === id).map((c) => c.job.version);
    for (const job of [...first, ...second]) {
      const steadyVersions = versions(seen.get(steady)!, job.id);
      expect(versions(seen.get(flaky)!, job.id), `job ${job.name}`).toEqual(steadyVersions);
      expect(steadyVersions).toEqual([...steadyVersions].sort((a, b) => a - b));
      expect(new Set(steadyVersions).size).toBe(steadyVersions.length);
    }
    expect(flakyStates.filter((s) => s === 'resuming').length).toBeGreaterThanOrEqual(4);
  }, 90_000);
});
