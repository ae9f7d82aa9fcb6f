/**
 * Child process for the crash test: opens an engine on the data directory given as argv[2],
 * submits jobs and hammers them with webhook deliveries, printing `ACK <jobId> <version>` each
 * time an ingest resolves (the moment a server would answer 2xx). The parent kills it with
 * SIGKILL at a random moment.
 */
import { createEngine } from '../../src/streams/engine.js';
import { FakeProvider, hookUrl, tokenOf } from './fake-provider.js';

const dir = process.argv[2];
const jobCount = Number(process.argv[3] ?? 8);
if (dir === undefined) throw new Error('usage: crash-child <data-dir> [jobs]');

// Polling is effectively off: only webhooks change state here.
const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
const engine = await createEngine({ providers: [provider], dataDir: dir, webhookUrl: hookUrl });
process.stdout.write('READY\n');

const jobs = await Promise.all(
  Array.from({ length: jobCount }, () => engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } })),
);
const tokens = provider.created.map((request) => tokenOf(request.webhookUrl));

await Promise.all(
  jobs.map(async (job, index) => {
    const token = tokens[index]!;
    for (let step = 1; step <= 1000; step++) {
      const body = { id: job.externalId, status: step === 1000 ? 'DONE' : 'WORKING', progress: step / 1000, result: 'r' };
      const { job: durable } = await engine.ingestWebhook({ provider: 'fake', token, body });
      process.stdout.write(`ACK ${durable.id} ${durable.version}\n`);
    }
  }),
);
process.stdout.write('FINISHED\n');
await engine.close();
