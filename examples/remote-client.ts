/**
 * Use a jobstream server from another process with the typed remote client.
 *
 * Starts a jobstream server in-process with the Klangio simulator behind it (in real life the
 * server runs elsewhere: `jobstream serve`), then does what a client program does:
 * `connect({ url, token })`, prints the connection's state as it changes, uploads a WAV file
 * as a transcription job, follows it with `job$(id)` to the end, lists the server's jobs and
 * closes.
 *
 *   npx tsx examples/remote-client.ts
 *
 * In your own project import `connect` from 'jobstream/client' instead of
 * '../src/client/node.js' (and the server side from 'jobstream'), and use your server's URL and
 * token. The simulator and `wavFile` (a test tone) come from 'jobstream/simulators'.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { connect } from '../src/client/node.js';
import { createDispatcher, createKlangioAdapter, startServer } from '../src/index.js';
import { simulatorBaseUrl, startKlangioSimulator, wavFile } from '../src/simulators/index.js';

// The server side, here only so the example runs on its own.
const TOKEN = 'example-token-0123456789';
const simulator = await startKlangioSimulator({ speed: 30, seed: 9 }); // jobs take well under a second
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const server = await startServer({
  providers: [createKlangioAdapter({ apiKey: simulator.apiKey, baseUrl: simulatorBaseUrl('klangio', simulator), dispatcher })],
  token: TOKEN,
  port: 0, // any free port on 127.0.0.1
  dataDir,
});

// The client side.
const client = await connect({ url: server.url, token: TOKEN });
try {
  client.state$.subscribe((state) => console.log(`connection: ${state}`));

  const riff = new Blob([wavFile({ seconds: 1, frequencyHz: 196 })], { type: 'audio/wav' });
  const job = await client.submit({ provider: 'klangio', kind: 'transcription', file: riff, filename: 'riff.wav', options: { model: 'guitar' }, name: 'riff' });
  console.log(`submitted ${job.id}`);

  const done = await lastValueFrom(
    client.job$(job.id).pipe(tap((snapshot) => console.log(`v${snapshot.version} ${snapshot.status.padEnd(9)} (via ${snapshot.source})`))),
  );
  console.log(`finished: ${done.status}, files ${done.artifacts?.files.map((file) => file.name).join(', ')}`);

  const { jobs } = await client.list({ limit: 10 });
  for (const listed of jobs) console.log(`listed: ${listed.id} ${listed.provider}/${listed.kind} ${listed.name} ${listed.status}`);
  process.exitCode = done.status === 'succeeded' && jobs.some((listed) => listed.id === job.id) ? 0 : 1;
} finally {
  await client.close();
  await server.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
