import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../src/providers/provider-http.js';
import type { Listening } from '../../src/simulators/kit/listen.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { ServerMessage } from '../../src/server/ws-protocol.js';
import { FileStore } from '../../src/streams/file-store.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { startAudioServer } from './audio-server.js';
import { eventually } from './eventually.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';
import { SecretRecordingStore } from './secret-recording-store.js';
import { report, sized } from './reliability-size.js';
import { contentTypes, expectedAnswer, extraHeaders, realBodies, webhookBodies, type ExpectedAnswer, type HookTarget, type WebhookCase } from './webhook-cases.js';
import { expectedWsAnswer, wsFrames, type WsExpectation, type WsFrame, type WsModel } from './ws-cases.js';
import { WsConnection } from './ws-connection.js';

const RUNS = sized({ ci: 10_000, full: 50_000 });
/** Per property: CI size stays well under a minute each. */
const PROPERTY_TIMEOUT_MS = sized({ ci: 120_000, full: 600_000 });
const TOKEN = 'reliability-bad-input-token';
/** Small limits (both configurable and documented), so oversize cases stay cheap. */
const WEBHOOK_LIMIT = 16 * 1024;
const WS_LIMIT = 1024;
const WS_MAX_SUBSCRIPTIONS = 4;

// No rejection may go unhandled while the server takes bad input.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

let dataDir: string;
let fleet: SimulatorFleet;
let audio: Listening;
let outbound: Dispatcher;
let client: Agent;
let server: RunningServer;
let store: SecretRecordingStore;
let targets: HookTarget[];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  dataDir = await mkdtemp(join(tmpdir(), 'jobstream-reliability-bad-input-'));
  // Simulator clocks so slow that no job moves on its own: only the fuzzed input changes state.
  fleet = await startSimulatorFleet({ speed: 0.000_1, seed: 101 });
  audio = await startAudioServer();
  outbound = createDispatcher();
  client = new Agent({ connections: 8 });
  store = new SecretRecordingStore(await FileStore.open({ dir: dataDir }));
  server = await startServer({
    providers: fleet.adapters(outbound, { intervalMs: 200, watchdog: { quietMs: 300 }, backoff: { initialMs: 50, maxMs: 500 } }),
    token: TOKEN,
    port: 0,
    dataDir,
    store,
    maxWebhookBytes: WEBHOOK_LIMIT,
    ws: { maxMessageBytes: WS_LIMIT, maxSubscriptions: WS_MAX_SUBSCRIPTIONS, heartbeatMs: 60_000 },
  });
  const requests = [
    { provider: 'klangio', kind: 'transcription', input: { type: 'url', url: `${audio.url}/riff.wav` }, options: { model: 'guitar', outputs: ['mxml'] } },
    { provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url: `${audio.url}/song.wav` } },
    ...[1, 2, 3].map((n) => ({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: `suno-${n}`, audioId: `track-${n}`, type: 'separate_vocal' } })),
    { provider: 'musicai', kind: 'workflow', input: { type: 'url', url: 'https://example.com/song.wav' }, options: { workflow: 'stems-four' } },
    { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/talk.wav' }, options: { language: 1 } },
  ];
  const jobs: JobSnapshot[] = [];
  for (const body of requests) {
    const answer = await api('POST', '/v1/jobs', body);
    expect(answer.status, JSON.stringify(answer.json)).toBe(201);
    jobs.push((answer.json as { job: JobSnapshot }).job);
  }
  expect(jobs.map((job) => job.status)).toEqual(jobs.map(() => 'queued'));
  targets = jobs.map((job) => ({ id: job.id, provider: job.provider, externalId: job.externalId!, token: store.tokenOf(job.id) }));
  // The first poll moves Camb.ai and sunoapi.org jobs to running (their PENDING); after that the
  // frozen simulators change nothing.
  const running = (jobs: JobSnapshot[]) => jobs.filter((job) => job.status === 'running').map((job) => job.provider).sort().join(',');
  await eventually(listJobs, (jobs) => running(jobs) === 'cambai,sunoapi,sunoapi,sunoapi', { timeoutMs: 10_000, what: 'the first polls' });
}, 30_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await server?.close();
  await client?.close();
  await outbound?.close();
  await fleet?.close();
  await audio?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const answer = await request(`${server.url}${path}`, {
    method,
    dispatcher: client,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.statusCode, json: await answer.body.json() };
}

async function listJobs(): Promise<JobSnapshot[]> {
  const answer = await api('GET', '/v1/jobs?limit=1000');
  expect(answer.status).toBe(200);
  return (answer.json as { jobs: JobSnapshot[] }).jobs;
}

async function expectHealthy(): Promise<void> {
  const answer = await request(`${server.url}/healthz`, { dispatcher: client });
  expect(answer.statusCode).toBe(200);
  expect(await answer.body.json()).toMatchObject({ status: 'ok' });
}

/** POSTs one fuzzed delivery and returns the answer, or the transport failure as text. */
async function deliver(path: string, delivery: WebhookCase): Promise<{ status: number; contentType: string; text: string } | { failure: string }> {
  const headers: Record<string, string> = { ...delivery.headers };
  if (delivery.contentType !== undefined) headers['content-type'] = delivery.contentType;
  const { bytes, chunked } = delivery.body;
  try {
    const answer = await request(`${server.url}${path}`, {
      method: 'POST',
      dispatcher: client,
      headers,
      // A stream has no declared length: it goes chunked, and the limit must hold while reading.
      body: chunked ? Readable.from(bytes.length === 0 ? [] : [bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)]) : bytes,
    });
    const type = answer.headers['content-type'];
    return { status: answer.statusCode, contentType: String(type ?? ''), text: await answer.body.text() };
  } catch (error) {
    return { failure: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** Checks one answer against the documented one; returns what is wrong, or nothing. */
function answerProblems(
  answer: Awaited<ReturnType<typeof deliver>>,
  expected: ExpectedAnswer,
  target: HookTarget | undefined,
): string | undefined {
  if ('failure' in answer) return `no HTTP answer (${answer.failure}); expected ${expected.status}`;
  if (answer.status !== expected.status) return `status ${answer.status} (${answer.text.slice(0, 300)}); expected ${expected.status}`;
  if (!answer.contentType.startsWith('application/json')) return `content-type ${answer.contentType}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return `a body that is not JSON: ${answer.text.slice(0, 200)}`;
  }
  if (expected.status === 200) {
    const ok = body as { outcome?: unknown; jobId?: unknown; version?: unknown };
    const keys = Object.keys(body as object).sort().join(',');
    if (keys !== 'jobId,outcome,version' || (ok.outcome !== 'applied' && ok.outcome !== 'duplicate') || ok.jobId !== target?.id || !Number.isInteger(ok.version)) {
      return `a 200 body not shaped {outcome, jobId, version}: ${answer.text}`;
    }
    return undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; issues?: unknown } }).error;
  const shaped =
    Object.keys(body as object).join(',') === 'error' &&
    error !== undefined &&
    typeof error.message === 'string' &&
    Object.keys(error).every((key) => key === 'code' || key === 'message' || key === 'issues');
  if (!shaped) return `an error body not shaped {error: {code, message}}: ${answer.text.slice(0, 300)}`;
  if (error.code !== expected.code) return `code ${String(error.code)}; expected ${expected.code}`;
  return undefined;
}

/** Runs one delivery and checks the answer and the stored jobs against the last known state. */
/** How many valid deliveries changed a job, and how many repeated what it had. */
const outcomes = { applied: 0, duplicate: 0 };

async function checkDelivery(path: string, target: HookTarget | undefined, delivery: WebhookCase, before: JobSnapshot[]): Promise<JobSnapshot[]> {
  const expected = expectedAnswer(target, delivery.body.bytes, WEBHOOK_LIMIT);
  const answer = await deliver(path, delivery);
  const problem = answerProblems(answer, expected, target);
  const after = await listJobs();
  const what = `${delivery.body.kind} body (${delivery.body.bytes.length} bytes${delivery.body.chunked ? ', chunked' : ''}) to ${path}`;
  expect(problem, `${what}: ${problem}\nbody: ${delivery.body.bytes.toString('utf8').slice(0, 400)}`).toBeUndefined();
  if (expected.status !== 200 || 'failure' in answer) {
    expect(after, `${what} was refused, yet the stored jobs changed`).toEqual(before);
    return after;
  }
  const { outcome, version } = JSON.parse(answer.text) as { outcome: 'applied' | 'duplicate'; version: number };
  outcomes[outcome] += 1;
  const was = before.find((job) => job.id === target!.id)!;
  const now = after.find((job) => job.id === target!.id)!;
  expect(now.version, `${what}: the answer's version is the stored one`).toBe(version);
  expect(now.version, `${what}: ${outcome}`).toBe(outcome === 'applied' ? was.version + 1 : was.version);
  expect(after.filter((job) => job.id !== target!.id), `${what} changed other jobs`).toEqual(before.filter((job) => job.id !== target!.id));
  return after;
}

describe('bad input against a running server', () => {
  it(`answers ${RUNS} fuzzed deliveries to real webhook URLs of every provider as documented`, async () => {
    const started = Date.now();
    const ids = targets.map((target) => target.externalId);
    const cases = fc.oneof(
      ...targets.map((target) =>
        fc.record({
          target: fc.constant(target),
          delivery: fc.record({ body: webhookBodies(realBodies(target.provider, target.externalId), ids, WEBHOOK_LIMIT), contentType: contentTypes, headers: extraHeaders }),
        }),
      ),
    );
    let state = await listJobs();
    let run = 0;
    const seen: Record<number, number> = { 200: 0, 400: 0, 413: 0 };
    await fc.assert(
      fc.asyncProperty(cases, async ({ target, delivery }) => {
        const expected = expectedAnswer(target, delivery.body.bytes, WEBHOOK_LIMIT).status;
        seen[expected] = (seen[expected] ?? 0) + 1;
        state = await checkDelivery(`/v1/hooks/${target.provider}/${target.token}`, target, delivery, state);
        if (++run % 1000 === 0) await expectHealthy();
      }),
      { numRuns: RUNS },
    );
    await expectHealthy();
    expect(unhandled).toEqual([]);
    report('bad-input', { property: 'real-hooks', runs: RUNS, ms: Date.now() - started, ...Object.fromEntries(Object.entries(seen).map(([k, v]) => [`expected${k}`, v])), ...outcomes });
    // Every documented answer was exercised.
    expect(Object.values(seen).every((n) => n > 0)).toBe(true);
  }, PROPERTY_TIMEOUT_MS);

  it(`answers ${RUNS} fuzzed deliveries to unknown webhook tokens and providers with 404 whatever the body (checked before it is read), storing nothing`, async () => {
    const started = Date.now();
    const ids = targets.map((target) => target.externalId);
    const anyReal = targets.flatMap((target) => realBodies(target.provider, target.externalId));
    const flip = (text: string, at: number): string => {
      const i = at % text.length;
      return text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
    };
    const segment = fc.string({ minLength: 1, maxLength: 80 }).filter((s) => s !== '.' && s !== '..').map(encodeURIComponent);
    const path = fc.oneof(
      // A real job's token with its secret changed, under its own provider.
      fc.tuple(fc.constantFrom(...targets), fc.nat()).map(([t, at]) => `/v1/hooks/${t.provider}/${flip(t.token, t.id.length + 1 + (at % (t.token.length - t.id.length - 1)))}`),
      // A real token under another provider's intake.
      fc.tuple(fc.constantFrom(...targets), fc.constantFrom('klangio', 'sunoapi', 'musicai', 'cambai')).filter(([t, p]) => t.provider !== p).map(([t, p]) => `/v1/hooks/${p}/${t.token}`),
      // A real token under a provider that is not configured, and made-up tokens everywhere.
      fc.tuple(fc.stringMatching(/^[a-z0-9_-]{1,20}$/).filter((p) => !['klangio', 'sunoapi', 'musicai', 'cambai'].includes(p)), fc.constantFrom(...targets)).map(([p, t]) => `/v1/hooks/${p}/${t.token}`),
      fc.tuple(fc.constantFrom('klangio', 'sunoapi', 'musicai', 'cambai'), segment).map(([p, token]) => `/v1/hooks/${p}/${token}`),
      fc.tuple(fc.constantFrom(...targets), fc.constantFrom('', '.', 'x', '.extra')).map(([t, suffix]) => `/v1/hooks/${t.provider}/${t.id}${suffix}`),
    );
    const cases = fc.record({ path, delivery: fc.record({ body: webhookBodies(anyReal, ids, WEBHOOK_LIMIT), contentType: contentTypes, headers: extraHeaders }) });
    let state = await listJobs();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(cases, async ({ path, delivery }) => {
        state = await checkDelivery(path, undefined, delivery, state);
        if (++run % 1000 === 0) await expectHealthy();
      }),
      { numRuns: RUNS },
    );
    await expectHealthy();
    expect(unhandled).toEqual([]);
    report('bad-input', { property: 'unknown-hooks', runs: RUNS, ms: Date.now() - started });
  }, PROPERTY_TIMEOUT_MS);

  it(`answers ${RUNS} fuzzed WebSocket client frames with the documented messages and keeps the connection`, async () => {
    const started = Date.now();
    const before = await listJobs();
    const url = `${server.url.replace('http', 'ws')}/v1/stream`;
    let conn = await WsConnection.open(url, TOKEN);
    const model: WsModel = {
      subs: new Set(),
      maxSubscriptions: WS_MAX_SUBSCRIPTIONS,
      maxMessageBytes: WS_LIMIT,
      canResume: (epoch, seq) => server.engine.changesSince(epoch, seq) !== undefined,
    };
    let run = 0;
    const seen: Record<string, number> = {};
    try {
      await fc.assert(
        fc.asyncProperty(wsFrames(server.engine.epoch, () => server.engine.seq, WS_LIMIT), async (frame) => {
          // A fresh connection now and then, so odd names do not hold every slot for good.
          if (run > 0 && run % 100 === 0) {
            await conn.close();
            conn = await WsConnection.open(url, TOKEN);
            model.subs.clear();
          }
          const expected = expectedWsAnswer(frame, model);
          const label = expected.type === 'error' ? expected.code : expected.type;
          seen[label] = (seen[label] ?? 0) + 1;
          const got = await conn.exchange(frame, `probe-${++run}`);
          const problem = wsProblems(got, expected);
          expect(problem, `${frame.kind} frame ${frame.binary ? '(binary) ' : ''}${frame.data.toString('utf8').slice(0, 300)}: ${problem}\ngot: ${JSON.stringify(got).slice(0, 600)}`).toBeUndefined();
          if (run % 1000 === 0) await expectHealthy();
        }),
        { numRuns: RUNS },
      );
    } finally {
      await conn.close();
    }
    await expectHealthy();
    expect(await listJobs()).toEqual(before);
    expect(unhandled).toEqual([]);
    report('bad-input', { property: 'ws-frames', runs: RUNS, ms: Date.now() - started, ...seen });
  }, PROPERTY_TIMEOUT_MS);

  it('closes a connection whose frame passes the hard ceiling with 1009, as documented, and stays healthy', async () => {
    const conn = await WsConnection.open(`${server.url.replace('http', 'ws')}/v1/stream`, TOKEN);
    try {
      // docs/protocol.md: a frame over the hard ceiling (the larger of 1 MiB and four times
      // limits.maxMessageBytes) is not read: the connection is closed with 1009.
      const huge: WsFrame = { kind: 'oversize', binary: false, data: Buffer.from(`{"type":"ping","id":"${'x'.repeat(1024 * 1024)}"}`) };
      const got = await conn.exchange(huge, 'after-huge');
      expect(got.closed).toMatch(/^close 1009\b/);
    } finally {
      await conn.close();
    }
    await expectHealthy();
  }, 20_000);
});

/** Checks the messages a frame got (before the probe's pong) against the documented answer. */
function wsProblems(got: { messages: unknown[]; closed?: string }, expected: WsExpectation): string | undefined {
  if (got.closed !== undefined) return `the server closed the connection (${got.closed}); expected ${expected.type}`;
  const messages = [];
  for (const raw of got.messages) {
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) return `a message that does not match the documented ServerMessage schema: ${JSON.stringify(raw).slice(0, 300)} (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`;
    messages.push(parsed.data);
  }
  const [first, ...rest] = messages;
  switch (expected.type) {
    case 'nothing':
      return messages.length === 0 ? undefined : `expected no answer, got ${messages.map((m) => m.type).join(', ')}`;
    case 'error':
      if (messages.length !== 1 || first?.type !== 'error') return `expected one error ${expected.code}`;
      if (first.code !== expected.code) return `error code ${first.code}; expected ${expected.code}`;
      if (first.sub !== expected.sub && (expected.maybeSub === undefined || first.sub !== expected.maybeSub)) {
        return `error sub ${JSON.stringify(first.sub)}; expected ${JSON.stringify(expected.sub ?? expected.maybeSub)}`;
      }
      return undefined;
    case 'pong':
      if (messages.length !== 1 || first?.type !== 'pong') return 'expected one pong';
      return first.id === expected.id ? undefined : `pong id ${first.id}; expected ${expected.id}`;
    case 'snapshot': {
      const pages = messages.filter((m) => m.type === 'snapshot');
      if (pages.length !== messages.length || pages.length === 0) return `expected snapshot pages only, got ${messages.map((m) => m.type).join(', ')}`;
      if (pages.some((page) => page.sub !== expected.sub || page.reason !== expected.reason)) return `expected snapshot of ${expected.sub} (${expected.reason})`;
      return pages.at(-1)!.more ? 'the last snapshot page says more: true' : undefined;
    }
    case 'resumed':
      if (first?.type !== 'resumed' || first.sub !== expected.sub) return `expected resumed for ${expected.sub}`;
      return rest.every((m) => m.type === 'change' && m.sub === expected.sub) ? undefined : 'expected only changes after resumed';
  }
}
