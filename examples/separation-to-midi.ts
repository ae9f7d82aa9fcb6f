/**
 * A two-step pipeline: separate a Suno track's vocals, then turn the separation into MIDI.
 *
 * Starts the sunoapi.org simulator and a jobstream server in-process (sunoapi.org reports
 * through callbacks, and the server is where they arrive: it gives the engine its webhook
 * URL). Submits a `vocal-separation`, and at once a `midi` job that waits for it
 * (`after: { jobId, externalIdOption: 'taskId' }`: it starts when the separation has
 * succeeded, with the separation's task id as its `taskId`). Prints every change of both jobs,
 * then the MIDI result's instruments and note counts.
 *
 *   npx tsx examples/separation-to-midi.ts
 *
 * In your own project import from 'jobstream' instead of '../src/index.js', pass your real
 * SUNOAPI_API_KEY without a baseUrl, give `startServer` a `publicUrl` the provider can reach,
 * and use the task and audio ids of one of your Suno tracks. The simulator comes from
 * 'jobstream/simulators' ('../src/simulators/index.js' here); a real setup does not need it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDispatcher, createSunoapiAdapter, startServer } from '../src/index.js';
import { simulatorBaseUrl, startSunoapiSimulator } from '../src/simulators/index.js';

const simulator = await startSunoapiSimulator({ speed: 20, seed: 5 }); // jobs take well under a second
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const server = await startServer({
  providers: [createSunoapiAdapter({ apiKey: simulator.apiKey, baseUrl: simulatorBaseUrl('sunoapi', simulator), dispatcher })],
  token: 'example-token-0123456789',
  port: 0, // any free port on 127.0.0.1; webhooks come to http://127.0.0.1:<port>/v1/hooks/…
  dataDir,
});
const engine = server.engine;

try {
  engine.changes$({ providers: ['sunoapi'] }).subscribe(({ job }) => {
    console.log(`${job.kind.padEnd(16)} v${job.version} ${job.status.padEnd(9)} provider says ${job.providerStatus ?? '-'} (via ${job.source})`);
  });

  const separation = await engine.submit({
    provider: 'sunoapi',
    kind: 'vocal-separation',
    options: { taskId: '5c79be8e-suno-music-task', audioId: 'e231a7c4-suno-track' },
  });
  const midi = await engine.submit({ provider: 'sunoapi', kind: 'midi', after: { jobId: separation.id, externalIdOption: 'taskId' } });

  const [separated, transcribed] = await Promise.all([engine.waitFor(separation.id, { timeoutMs: 30_000 }), engine.waitFor(midi.id, { timeoutMs: 30_000 })]);
  const stems = Object.keys((separated.result as { urls?: object } | null)?.urls ?? {});
  console.log(`separation: ${separated.status}, task ${separated.externalId}, stems ${stems.join(', ')}`);
  console.log(`midi: ${transcribed.status}, made from that task`);
  const { instruments = [] } = (transcribed.result ?? {}) as { instruments?: { name: string; notes: unknown[] }[] };
  for (const instrument of instruments) console.log(`  ${instrument.name}: ${instrument.notes.length} notes`);
  // A source without notes (real for separated vocals) succeeds with no instruments.
  if (instruments.length === 0) console.log('  no notes found');
  process.exitCode = transcribed.status === 'succeeded' ? 0 : 1;
} finally {
  await server.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
