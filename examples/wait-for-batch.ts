/**
 * Submit a batch of jobs to two providers and wait for all of them.
 *
 * Starts the Klangio and Camb.ai simulators (local stand-ins for the real APIs), writes a few
 * short WAV files into a temporary directory, submits one job per file and kind (Klangio
 * transcription, chords and beats; Camb.ai speech transcription), waits for every job with
 * `Promise.all(ids.map((id) => engine.waitFor(id)))`, and prints one line per job and the
 * counts by status.
 *
 *   npx tsx examples/wait-for-batch.ts
 *
 * In your own project import from 'jobstream' instead of '../src/index.js', pass your real
 * KLANGIO_API_KEY and CAMBAI_API_KEY without a baseUrl, and use your own audio files
 * (the simulators and `wavFile`, a test tone, come from 'jobstream/simulators',
 * '../src/simulators/index.js' here; a real setup needs neither).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCambaiAdapter,
  createDispatcher,
  createEngine,
  createKlangioAdapter,
  type SubmitRequest,
} from '../src/index.js';
import { simulatorBaseUrl, startCambaiSimulator, startKlangioSimulator, wavFile } from '../src/simulators/index.js';

const klangio = await startKlangioSimulator({ speed: 30, seed: 11 }); // jobs take well under a second
const cambai = await startCambaiSimulator({ speed: 30, seed: 11 });
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const pollPolicy = { intervalMs: 100 }; // the real defaults are 5–10 s

const engine = await createEngine({
  providers: [
    createKlangioAdapter({ apiKey: klangio.apiKey, baseUrl: simulatorBaseUrl('klangio', klangio), dispatcher, pollPolicy }),
    createCambaiAdapter({ apiKey: cambai.apiKey, baseUrl: simulatorBaseUrl('cambai', cambai), dispatcher, pollPolicy }),
  ],
  dataDir,
});

try {
  // Three takes, each a second of a different tone.
  const files: string[] = [];
  for (const [i, frequencyHz] of [220, 330, 440].entries()) {
    const path = join(dataDir, `take-${i + 1}.wav`);
    await writeFile(path, wavFile({ seconds: 1, frequencyHz }));
    files.push(path);
  }

  const batch: SubmitRequest[] = files.flatMap((path, i) => [
    { provider: 'klangio', kind: 'transcription', input: { type: 'file', path }, options: { model: 'guitar' }, name: `take ${i + 1} score` },
    { provider: 'klangio', kind: 'chord-recognition', input: { type: 'file', path }, name: `take ${i + 1} chords` },
  ]);
  batch.push({ provider: 'klangio', kind: 'beat-tracking', input: { type: 'file', path: files[0]! }, name: 'take 1 beats' });
  batch.push({ provider: 'cambai', kind: 'transcription', input: { type: 'file', path: files[1]! }, options: { language: 1 }, name: 'take 2 speech' });

  const ids = (await Promise.all(batch.map((request) => engine.submit(request)))).map((job) => job.id);
  console.log(`submitted ${ids.length} jobs`);

  const done = await Promise.all(ids.map((id) => engine.waitFor(id, { timeoutMs: 30_000 })));
  for (const job of done) {
    const took = ((job.updatedAt - job.createdAt) / 1000).toFixed(2);
    const detail = job.status === 'succeeded' ? engine.resultFiles(job.id).map((file) => file.name).join(', ') : job.error?.message;
    console.log(`${job.status.padEnd(9)} ${`${job.provider}/${job.kind}`.padEnd(28)} ${(job.name ?? '').padEnd(14)} ${took} s  ${detail}`);
  }

  const counts = new Map<string, number>();
  for (const job of done) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  console.log(`by status: ${[...counts].map(([status, n]) => `${status} ${n}`).join(', ')}`);
  process.exitCode = counts.get('succeeded') === ids.length ? 0 : 1;
} finally {
  await engine.close();
  await klangio.close();
  await cambai.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
