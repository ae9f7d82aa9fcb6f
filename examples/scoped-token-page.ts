/**
 * Show one user's job in their browser, live, without giving the browser the API token: a
 * scoped read token and Server-Sent Events.
 *
 * Starts a jobstream server in-process with the Camb.ai simulator behind it (in real life the
 * server runs elsewhere: `jobstream serve`), then plays your web app's backend for user 42:
 *
 * 1. submits a speech transcription with `metadata: { userId: '42' }` (API token, server side);
 * 2. mints a token that may only read user 42's jobs, for ten minutes: `POST /v1/tokens`;
 * 3. serves `scoped-token-page.html` with the server URL, the job id and that token filled in,
 *    on its own port (another origin: the event stream allows any origin, the token decides);
 * 4. reads the same stream the page reads (`GET /v1/jobs/:id/events?token=…`), as `curl -N`
 *    would, and prints each event until `end`;
 * 5. shows what the token may not do: read another user's job (404), submit (403).
 *
 *   npx tsx examples/scoped-token-page.ts          # runs through and exits
 *   npx tsx examples/scoped-token-page.ts --keep   # slower jobs; open the printed URL in a browser
 *
 * With `--keep` every load of the page submits a new job for user 42 and mints a new token.
 * In your own project import from 'jobstream' instead of '../src/index.js'.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCambaiAdapter, createDispatcher, startServer } from '../src/index.js';
import { simulatorBaseUrl, startCambaiSimulator } from '../src/simulators/index.js';

const keep = process.argv.includes('--keep');
const TOKEN = 'example-token-0123456789';
const simulator = await startCambaiSimulator({ speed: keep ? 0.5 : 20, seed: 4 });
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const server = await startServer({
  providers: [createCambaiAdapter({ apiKey: simulator.apiKey, baseUrl: simulatorBaseUrl('cambai', simulator), dispatcher, pollPolicy: { intervalMs: 100 } })],
  token: TOKEN,
  port: 0,
  dataDir,
});

/** Your backend's side: the API token stays here. */
async function api(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** A job for user 42, and a token that reads user 42's jobs only, for ten minutes. */
async function jobAndToken(name: string): Promise<{ job: string; token: string }> {
  const { job } = (await api('/v1/jobs', {
    provider: 'cambai',
    kind: 'transcription',
    // The simulator does not fetch it; a real Camb.ai does.
    input: { type: 'url', url: 'https://example.com/interview.mp3' },
    options: { language: 1 },
    name,
    metadata: { userId: '42' },
  })) as { job: { id: string } };
  const { token } = (await api('/v1/tokens', { filter: { metadata: { userId: '42' } }, ttlSeconds: 600 })) as { token: string };
  return { job: job.id, token };
}

// The page, with the values filled in where it expects them (the JSON in <script id="jobstream">).
const template = await readFile(new URL('./scoped-token-page.html', import.meta.url), 'utf8');
const render = (config: { server: string; job: string; token: string }) =>
  template.replace(/(<script id="jobstream" type="application\/json">)[^<]*(<\/script>)/, (_, open: string, close: string) => `${open}${JSON.stringify(config).replace(/</g, '\\u003c')}${close}`);

const initial = await jobAndToken('interview (user 42)');
let loads = 0;
const pages: Server = createServer((request, response) => {
  if (request.url !== '/') return void response.writeHead(404).end();
  // The first load shows the job made at start; later loads (with --keep) make a new one.
  const made = loads++ === 0 ? initial : jobAndToken(`interview (user 42, ${new Date().toLocaleTimeString()})`);
  void Promise.resolve(made).then(
    ({ job, token }) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(render({ server: server.url, job, token }));
    },
    (error: unknown) => response.writeHead(500).end(String(error)),
  );
});
await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
console.log(`page: ${pageUrl}`);

try {
  const { job, token } = initial;
  // Another user's job, to show it stays out of reach.
  const { job: other } = (await api('/v1/jobs', { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/other.mp3' }, options: { language: 1 }, metadata: { userId: '7' } })) as { job: { id: string } };

  // What the page's EventSource receives, read here like `curl -N` would.
  const stream = await fetch(`${server.url}/v1/jobs/${job}/events?token=${encodeURIComponent(token)}`, { headers: { accept: 'text/event-stream' } });
  console.log(`stream: ${stream.status} ${stream.headers.get('content-type')}`);
  let text = '';
  const decoder = new TextDecoder();
  read: for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      // `field: value` lines; a line starting with ':' is a comment (the heartbeat).
      const fields = new Map(block.split('\n').filter((line) => !line.startsWith(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trimStart()]));
      const event = fields.get('event');
      const id = fields.get('id');
      const data = JSON.parse(fields.get('data') ?? 'null') as { jobs?: { version: number; status: string }[]; job?: { version: number; status: string; source: string }; reason?: string };
      if (event === 'snapshot') console.log(`snapshot: ${data.jobs?.map((j) => `v${j.version} ${j.status}`).join(', ')} (id ${id})`);
      if (event === 'change') console.log(`change: v${data.job?.version} ${data.job?.status} via ${data.job?.source} (id ${id})`);
      if (event === 'end') {
        console.log(`end: ${data.reason}`);
        break read;
      }
    }
  }

  const asUser = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const theirs = await asUser(`/v1/jobs/${other.id}`);
  console.log(`another user's job: ${theirs.status} ${((await theirs.json()) as { error: { code: string } }).error.code}`);
  const submit = await asUser('/v1/jobs', { method: 'POST', body: JSON.stringify({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/c.mp3' }, options: { language: 1 } }) });
  console.log(`submit with the scoped token: ${submit.status} ${((await submit.json()) as { error: { code: string } }).error.code}`);
  const mine = (await (await asUser('/v1/jobs')).json()) as { jobs: { id: string }[] };
  console.log(`jobs it can list: ${mine.jobs.length} (${mine.jobs.map((j) => (j.id === job ? 'the one shown' : 'another of user 42')).join(', ')})`);

  if (keep) {
    console.log(`open ${pageUrl} in a browser (each load submits a new job for user 42); Ctrl-C to stop`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  await new Promise<void>((resolve) => pages.close(() => resolve()));
  await server.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
