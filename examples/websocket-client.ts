/**
 * Talk to the WebSocket stream directly, with `ws` and the exported zod schemas.
 *
 * Starts a jobstream server in-process with the Camb.ai simulator behind it, connects to
 * `/v1/stream` with the bearer token, reads `hello`, subscribes to every job, submits a
 * transcription over REST and prints each validated `change` until the job is finished. Then it
 * disconnects, submits a second job while away, reconnects with `resume: { epoch, seq }`, gets
 * `resumed` and the changes it missed, and follows the second job to the end.
 *
 *   npx tsx examples/websocket-client.ts
 *
 * In your own project import from 'jobstream' instead of '../src/index.js', and connect to your
 * server's URL with its token (docs/protocol.md describes every message). The simulator comes
 * from 'jobstream/simulators' ('../src/simulators/index.js' here).
 */
import { on } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import {
  createCambaiAdapter,
  createDispatcher,
  isTerminal,
  JobSnapshot,
  ServerMessage,
  startServer,
  type ChangeMessage,
  type ClientMessage,
  type ResumePoint,
} from '../src/index.js';
import { simulatorBaseUrl, startCambaiSimulator } from '../src/simulators/index.js';

const TOKEN = 'example-token-0123456789';
const simulator = await startCambaiSimulator({ speed: 20, seed: 7 }); // jobs take well under a second
const dispatcher = createDispatcher();
const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-example-'));
const server = await startServer({
  providers: [createCambaiAdapter({ apiKey: simulator.apiKey, baseUrl: simulatorBaseUrl('cambai', simulator), dispatcher, pollPolicy: { intervalMs: 100 } })],
  token: TOKEN,
  port: 0, // any free port on 127.0.0.1
  dataDir,
});

/** Creates a job over REST: `POST /v1/jobs` answers `{ job }`. */
async function submit(name: string): Promise<JobSnapshot> {
  const response = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/talk.mp3' }, options: { language: 1 }, name }),
  });
  if (!response.ok) throw new Error(`POST /v1/jobs answered ${response.status}: ${await response.text()}`);
  const { job } = (await response.json()) as { job: unknown };
  return JobSnapshot.parse(job);
}

/**
 * One connection: subscribes to every job once greeted (resuming when given a point) and passes
 * each validated server message to `handle` until it returns true.
 */
async function session(resume: ResumePoint | undefined, handle: (message: ServerMessage) => boolean | Promise<boolean>): Promise<void> {
  const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const send = (message: ClientMessage): void => socket.send(JSON.stringify(message));
  try {
    for await (const [data] of on(socket, 'message', { close: ['close'] })) {
      const message = ServerMessage.parse(JSON.parse(String(data)));
      if (message.type === 'hello') send({ type: 'subscribe', sub: 'all', ...(resume === undefined ? {} : { resume }) });
      if (await handle(message)) return;
    }
    throw new Error('the server closed the stream');
  } finally {
    socket.close();
  }
}

let last: ResumePoint | undefined; // the newest point seen: what to resume from
let watched: string | undefined; // the job followed to the end
/** Prints a `change` message; true once the watched job is finished. */
function printChanges(message: ChangeMessage, missedUpTo = 0): boolean {
  let done = false;
  for (const { seq, job, previousStatus } of message.changes) {
    last = { epoch: message.epoch, seq };
    const missed = seq <= missedUpTo ? ' (missed while away)' : '';
    console.log(`change seq ${seq}: ${job.name} ${previousStatus ?? 'new'} -> ${job.status} v${job.version} (via ${job.source})${missed}`);
    if (job.id === watched && isTerminal(job.status)) done = true;
  }
  return done;
}

try {
  await session(undefined, async (message) => {
    if (message.type === 'hello') console.log(`hello: epoch ${message.epoch}, seq ${message.seq}`);
    if (message.type === 'snapshot') {
      console.log(`snapshot: ${message.jobs.length} jobs as of seq ${message.seq}`);
      last = { epoch: message.epoch, seq: message.seq };
      watched = (await submit('first')).id;
    }
    return message.type === 'change' && printChanges(message);
  });

  console.log(`disconnected at seq ${last?.seq}`);
  watched = (await submit('second')).id; // changes while nobody listens
  let newestAtReconnect = 0;
  let resumed = false;
  await session(last, (message) => {
    if (message.type === 'hello') newestAtReconnect = message.seq;
    if (message.type === 'resumed') {
      console.log(`resumed from seq ${message.seq}`);
      resumed = true;
    }
    if (message.type === 'snapshot') console.log(`could not resume: fresh snapshot (${message.reason})`);
    return message.type === 'change' && printChanges(message, newestAtReconnect);
  });

  const second = server.engine.get(watched);
  console.log(`second job: ${second?.status}`);
  process.exitCode = resumed && second?.status === 'succeeded' ? 0 : 1;
} finally {
  await server.close();
  await simulator.close();
  await dispatcher.close();
  await rm(dataDir, { recursive: true, force: true });
}
