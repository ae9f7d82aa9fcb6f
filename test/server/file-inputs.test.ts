import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCambaiAdapter } from '../../src/providers/cambai/cambai-adapter.js';
import { startCambaiSimulator } from '../../src/simulators/cambai/cambai-simulator.js';
import { createKlangioAdapter } from '../../src/providers/klangio/klangio-adapter.js';
import { startKlangioSimulator } from '../../src/simulators/klangio/klangio-simulator.js';
import { createMusicaiAdapter } from '../../src/providers/musicai/musicai-adapter.js';
import { startMusicaiSimulator } from '../../src/simulators/musicai/musicai-simulator.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import type { RunningServer } from '../../src/server/server.js';
import type { JsonValue } from '../../src/streams/job-snapshot.js';
import { startTestServer } from '../support/test-server.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-file-inputs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<unknown> | void)[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('file inputs over the network', () => {
  it('refuses a JSON file input over REST (input {type: "file", path: "/etc/passwd"}) with 400 naming input.type; nothing is stored, the provider is never called', async () => {
    const { server, provider, api } = await startTestServer();
    servers.push(server);
    const answers: string[] = [];
    // An existing file, a missing one and a pipeline step: the same answer, naming no path (no existence oracle).
    for (const body of [
      { provider: 'fake', kind: 'transcription', input: { type: 'file', path: '/etc/passwd' } },
      { provider: 'fake', kind: 'transcription', input: { type: 'file', path: '/nonexistent/secret-name.wav', filename: 'a.wav' } },
      { provider: 'fake', kind: 'transcription', input: { type: 'file', path: '/etc/passwd' }, after: { jobId: 'job_x' } },
    ]) {
      const res = await api('/v1/jobs', json(body));
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({
        error: {
          code: 'INVALID_REQUEST',
          message: 'input.type: file inputs are not accepted over the network; upload the audio as multipart or give a url',
          issues: [{ field: 'input.type', reason: 'file inputs are not accepted over the network; upload the audio as multipart or give a url' }],
        },
      });
      expect(text).not.toMatch(/passwd|secret-name/);
      answers.push(text);
    }
    expect(new Set(answers).size).toBe(1);
    expect(server.engine.list({}).jobs).toEqual([]);
    expect(provider.created).toEqual([]);
  });
});

/** The three adapters that read local files, each against its simulator, behind one real server. */
async function providersServer() {
  const dispatcher = createDispatcher();
  cleanups.push(() => dispatcher.close());
  const klangioSim = await startKlangioSimulator({ speed: 200, seed: 1 });
  const cambaiSim = await startCambaiSimulator({ speed: 500, seed: 1 });
  const musicaiSim = await startMusicaiSimulator({ speed: 500, seed: 1 });
  cleanups.push(() => klangioSim.close(), () => cambaiSim.close(), () => musicaiSim.close());
  const { server } = await startTestServer({
    providers: [
      createKlangioAdapter({ apiKey: klangioSim.apiKey, baseUrl: klangioSim.url, dispatcher }),
      createCambaiAdapter({ apiKey: cambaiSim.apiKey, baseUrl: cambaiSim.baseUrl, dispatcher }),
      createMusicaiAdapter({ apiKey: musicaiSim.apiKey, baseUrl: musicaiSim.apiEndpoint, dispatcher }),
    ],
  });
  servers.push(server);
  return server;
}

const PROVIDERS: { provider: string; kind: string; options: Record<string, JsonValue> }[] = [
  { provider: 'klangio', kind: 'beat-tracking', options: {} },
  { provider: 'cambai', kind: 'transcription', options: { language: 1 } },
  { provider: 'musicai', kind: 'workflow', options: { workflow: 'stems-four' } },
];

describe('file inputs in process', () => {
  it.each(PROVIDERS)(
    'a file input naming a FIFO ($provider, in-process API) fails that job at once with a clear error naming no path, and the server keeps answering',
    async ({ provider, kind, options }) => {
      const server = await providersServer();
      const fifo = join(dir, `${provider}.fifo`);
      await promisify(execFile)('mkfifo', [fifo]);
      cleanups.push(() => rm(fifo, { force: true }));
      // A safety valve, not a synchronisation: should the server block opening the FIFO (the bug),
      // a writer turns up after 5 s so the test fails on its assertions instead of hanging.
      const valve: ChildProcess = spawn('sh', ['-c', 'sleep 5; exec 3>"$0"', fifo], { stdio: 'ignore' });
      cleanups.push(() => void valve.kill());

      const started = Date.now();
      const job = await server.engine.submit({ provider, kind, options, input: { type: 'file', path: fifo, filename: 'live.wav' } });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(job.status).toBe('failed');
      expect(job.error?.message).toMatch(/cannot read the input file "live\.wav": not a regular file \(a FIFO\)/);
      expect(job.error?.message).not.toContain(dir);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    },
  );

  it.each(PROVIDERS)(
    "a missing upload ($provider): the job's error names the upload's filename, never the server path",
    async ({ provider, kind, options }) => {
      const server = await providersServer();
      const path = join(dir, 'uploads', '1700000000000-0123456789ab');
      const job = await server.engine.submit({ provider, kind, options, input: { type: 'file', path, filename: 'riff.wav', contentType: 'audio/wav' } });
      expect(job.status).toBe('failed');
      expect(job.error?.message).toMatch(/cannot read the input file "riff\.wav": it does not exist/);
      expect(job.error?.message).not.toContain(dir);
    },
  );
});
