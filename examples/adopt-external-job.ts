/**
 * Adopt a job that was created outside jobstream, and follow it like any other.
 *
 * Starts the Music.AI simulator (a local stand-in for the real API) and creates a job there
 * directly, the way another service of yours might: `GET /v1/upload` for signed URLs, `PUT` the
 * audio, `POST /v1/job` with a workflow slug, authenticated with the raw API key. Then
 * `engine.track({ provider, kind, externalId })` adopts it (jobstream polls it), `waitFor`
 * follows it to the end, and tracking it a second time returns the same job.
 *
 *   npx tsx examples/adopt-external-job.ts
 *
 * In your own project import from 'jobstream' instead of '../src/index.js', and pass your real
 * MUSICAI_API_KEY without a baseUrl. The simulator and `wavFile` (a test tone) come from
 * 'jobstream/simulators' ('../src/simulators/index.js' here); a real setup needs neither.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDispatcher, createEngine, createMusicaiAdapter } from '../src/index.js';
import { simulatorBaseUrl, startMusicaiSimulator, wavFile } from '../src/simulators/index.js';

const simulator = await startMusicaiSimulator({ speed: 20, seed: 3 }); // jobs take well under a second
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const baseUrl = simulatorBaseUrl('musicai', simulator); // http://127.0.0.1:<port>/v1

/** A call to the Music.AI API as any HTTP client makes it: the raw key, no `Bearer`. */
async function musicai<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: simulator.apiKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

const engine = await createEngine({
  providers: [createMusicaiAdapter({ apiKey: simulator.apiKey, baseUrl, dispatcher, pollPolicy: { intervalMs: 100 } })],
  dataDir,
});

try {
  // Somewhere else: upload a song and start a four-stem separation on it.
  const { uploadUrl, downloadUrl } = await musicai<{ uploadUrl: string; downloadUrl: string }>('GET', '/upload');
  const put = await fetch(uploadUrl, { method: 'PUT', headers: { 'content-type': 'audio/wav' }, body: wavFile({ seconds: 1 }) });
  if (!put.ok) throw new Error(`upload answered ${put.status}`);
  const { id: externalId } = await musicai<{ id: string }>('POST', '/job', { name: 'song.wav', workflow: 'stems-four', params: { inputUrl: downloadUrl } });
  console.log(`created at Music.AI: ${externalId}`);

  // Here: adopt it.
  const job = await engine.track({ provider: 'musicai', kind: 'workflow', externalId, name: 'song stems' });
  console.log(`tracking as ${job.id} (${job.status})`);
  const again = await engine.track({ provider: 'musicai', kind: 'workflow', externalId });
  console.log(`tracking again: ${again.id === job.id ? 'the same job' : `another job ${again.id}`}`);

  const done = await engine.waitFor(job.id, { timeoutMs: 30_000 });
  console.log(`finished: ${done.status} (provider says ${done.providerStatus})`);
  console.log(`files: ${engine.resultFiles(done.id).map((file) => file.name).join(', ')}`);
  process.exitCode = done.status === 'succeeded' && again.id === job.id ? 0 : 1;
} finally {
  await engine.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
