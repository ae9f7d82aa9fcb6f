/**
 * Receive jobstream's outbound webhooks and verify their signatures with `standardwebhooks`
 * (npm), the Standard Webhooks reference library: nothing jobstream-specific on the receiving end.
 *
 *   npx tsx examples/webhook-receiver.ts
 *     runs through and exits: starts a jobstream server in-process with the Camb.ai simulator
 *     behind it, registers this receiver (`POST /v1/webhooks`), submits a job and prints every
 *     verified `job.changed` event until the job has succeeded;
 *   WEBHOOK_SECRET=whsec_… npx tsx examples/webhook-receiver.ts --listen 4000
 *     only the receiver, on port 4000, for a server you run yourself
 *     (`JOBSTREAM_WEBHOOK_URL=http://127.0.0.1:4000/ JOBSTREAM_WEBHOOK_SECRET=whsec_…
 *     JOBSTREAM_WEBHOOK_ALLOW_PRIVATE=1 jobstream serve`).
 *
 * In your own project import from 'jobstream' instead of '../src/index.js'.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { createCambaiAdapter, createDispatcher, startServer } from '../src/index.js';
import { simulatorBaseUrl, startCambaiSimulator } from '../src/simulators/index.js';

/** What each delivery carries (see docs/protocol.md, "Outbound webhooks"). */
interface JobChanged {
  type: 'job.changed';
  timestamp: string;
  data: { job: { id: string; version: number; status: string }; previousStatus: string | null; epoch: string; seq: number };
}

/** The receiver: the part to copy. Answers 2xx only for a verified body (anything else is retried). */
function receiver(secret: string, onEvent: (event: JobChanged, webhookId: string) => void): RequestListener {
  const verifier = new Webhook(secret);
  const seen = new Set<string>(); // webhook-id is unique per job version: drop repeats
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const event = verifier.verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>) as JobChanged;
        const id = String(req.headers['webhook-id']);
        if (!seen.has(id)) onEvent(event, id);
        seen.add(id);
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end('bad signature');
      }
    });
  };
}

const listen = process.argv.indexOf('--listen');
if (listen >= 0) {
  const secret = process.env.WEBHOOK_SECRET;
  if (secret === undefined) throw new Error('set WEBHOOK_SECRET to the endpoint secret (whsec_…)');
  const port = Number(process.argv[listen + 1] ?? 4000);
  createServer(receiver(secret, (event, id) => console.log(`${id}: ${event.data.job.status}`))).listen(port, () => console.log(`receiving on http://127.0.0.1:${port}/`));
} else {
  await runThrough();
}

/** The self-contained run: a server, a simulator, this receiver and one job. */
async function runThrough(): Promise<void> {
  const TOKEN = 'example-token-0123456789';
  const simulator = await startCambaiSimulator({ speed: 20, seed: 16 });
  const dispatcher = createDispatcher();
  const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
  const server = await startServer({
    providers: [createCambaiAdapter({ apiKey: simulator.apiKey, baseUrl: simulatorBaseUrl('cambai', simulator), dispatcher, pollPolicy: { intervalMs: 100 } })],
    token: TOKEN,
    port: 0,
    dataDir,
    // The receiver below is on loopback: only for local setups.
    webhooks: { dispatcher, allowPrivateTargets: true },
  });
  const api = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };

  let done!: () => void;
  const succeeded = new Promise<void>((resolve) => (done = resolve));
  // The secret is only known once the endpoint exists; until then (no job yet) answer 503.
  let handle: RequestListener = (_req, res) => void res.writeHead(503).end();
  const inbox = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => inbox.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(inbox.address() as AddressInfo).port}/hooks/jobstream`;

  const registered = await api('/v1/webhooks', { url, filter: { providers: ['cambai'] }, description: 'example receiver' });
  const secret = String(registered.secret);
  handle = receiver(secret, (event, id) => {
    console.log(`verified ${id}: ${event.data.previousStatus ?? 'new'} -> ${event.data.job.status} (seq ${event.data.seq})`);
    if (event.data.job.status === 'succeeded') done();
  });
  console.log(`registered ${String((registered.endpoint as { id: string }).id)} -> ${url} (secret ${secret.slice(0, 10)}…)`);
  const { job } = (await api('/v1/jobs', { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/interview.mp3' }, options: { language: 1 } })) as { job: { id: string } };
  console.log(`submitted ${job.id}`);
  await succeeded;
  console.log('the job succeeded: every event verified');

  inbox.close();
  await server.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
