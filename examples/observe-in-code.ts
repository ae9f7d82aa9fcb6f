/**
 * Observe a job in code with the engine's observables.
 *
 * Starts the Camb.ai simulator (a local stand-in for the real API), points an engine at it,
 * submits a transcription and prints every snapshot as it arrives, then the result.
 *
 *   npx tsx examples/observe-in-code.ts
 *
 * In your own project import from 'jobstream' instead of '../src/index.js', and pass your real
 * CAMBAI_API_KEY without a baseUrl. The simulator comes from 'jobstream/simulators'
 * ('../src/simulators/index.js' here); a real setup does not need it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCambaiAdapter, createDispatcher, createEngine } from '../src/index.js';
import { simulatorBaseUrl, startCambaiSimulator } from '../src/simulators/index.js';

const simulator = await startCambaiSimulator({ speed: 20, seed: 7 }); // jobs take well under a second
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));

const engine = await createEngine({
  providers: [
    createCambaiAdapter({
      apiKey: simulator.apiKey,
      baseUrl: simulatorBaseUrl('cambai', simulator),
      dispatcher,
      pollPolicy: { intervalMs: 100 }, // the real default is 5 s
    }),
  ],
  dataDir,
});

try {
  const job = await engine.submit({
    provider: 'cambai',
    kind: 'transcription',
    input: { type: 'url', url: 'https://example.com/interview.mp3' },
    options: { language: 1 },
    name: 'interview',
  });

  // Every version of the job, from the current one to the terminal one.
  engine.job$(job.id).subscribe((snapshot) => {
    console.log(`v${snapshot.version} ${snapshot.status.padEnd(9)} provider says ${snapshot.providerStatus ?? '-'} (via ${snapshot.source})`);
  });

  const done = await engine.waitFor(job.id, { timeoutMs: 30_000 });
  console.log(`finished: ${done.status}`);
  console.log(`files: ${engine.resultFiles(done.id).map((file) => file.name).join(', ')}`);
  const transcript = (done.result as { transcript?: { speaker: string; text: string }[] } | null)?.transcript ?? [];
  for (const segment of transcript.slice(0, 2)) console.log(`  ${segment.speaker}: ${segment.text}`);
  process.exitCode = done.status === 'succeeded' ? 0 : 1;
} finally {
  await engine.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
