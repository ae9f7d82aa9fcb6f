import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import type { Listening } from '../../src/simulators/kit/listen.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { isTerminal } from '../../src/streams/job-status.js';
import { TestProcess } from '../support/processes.js';
import { killAllRedis, redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';
import { startAudioServer } from './audio-server.js';
import { eventually } from './eventually.js';
import { JobLedger } from './job-ledger.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';
import { report } from './reliability-size.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';

const redisCheck = redisForTests();

const TOKEN = 'reliability-redis-fault-token-0123';
/** Simulator clock: a Klangio job takes about 1–3 s; its webhook retries come after 0.3, 1.7 and 5 s. */
const SPEED = 3;
/**
 * How long Redis stays down: the input of this test, like the moment of a kill (shorter than
 * the simulator's webhook retries, so the providers' retries land after it).
 */
const OUTAGE_MS = 2500;

let redis: RunningRedis | undefined;
let fleet: SimulatorFleet | undefined;
let audio: Listening | undefined;
let proxy: RoundRobinProxy | undefined;
const dirs: string[] = [];
const client = new Agent({ connections: 16 });
afterAll(async () => {
  await TestProcess.killAll();
  await proxy?.close();
  await fleet?.close();
  await audio?.close();
  await redis?.close();
  await killAllRedis();
  await client.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

interface Answer<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
  startedAt: number;
  endedAt: number;
}

async function api<T>(url: string, path: string, init: { method?: string; body?: unknown; token?: boolean } = {}): Promise<Answer<T>> {
  const startedAt = Date.now();
  const answer = await request(`${url}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    dispatcher: client,
    headers: { ...(init.token === false ? {} : { authorization: `Bearer ${TOKEN}` }), 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const body = (await answer.body.json()) as T;
  return { status: answer.statusCode, body, headers: answer.headers, startedAt, endedAt: Date.now() };
}

async function listJobs(url: string): Promise<JobSnapshot[]> {
  const jobs: JobSnapshot[] = [];
  let cursor: string | null = null;
  do {
    const page: Answer<{ jobs: JobSnapshot[]; nextCursor: string | null }> = await api(url, `/v1/jobs?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(page.status).toBe(200);
    jobs.push(...page.body.jobs);
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return jobs;
}

type Health = { status: string; reason?: string; epoch?: string };

function jobRequest(n: number, audioUrl: string): Record<string, unknown> {
  return n % 2 === 0
    ? { provider: 'klangio', kind: 'transcription', input: { type: 'url', url: `${audioUrl}/riff-${n}.wav` }, options: { model: 'guitar', outputs: ['mxml'] } }
    : { provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url: `${audioUrl}/song-${n}.wav` } };
}

describe.skipIf(redisCheck.skip !== undefined)('Redis goes away under load and comes back (issue #12)', () => {
  it('two members say 503 with a reason and refuse writes and webhooks meanwhile, recover by themselves, and lose nothing they acknowledged before, during or after', async () => {
    const started = Date.now();
    redis = await startRedis({ appendfsync: 'always' });
    fleet = await startSimulatorFleet({ speed: SPEED, seed: 12_400, only: ['klangio'] });
    audio = await startAudioServer();
    const ledger = new JobLedger();
    proxy = await startRoundRobinProxy((ack, target) => ledger.see({ id: ack.jobId, version: ack.version }, `webhook answer of ${target}`));
    const env: Record<string, string> = {
      JOBSTREAM_TOKEN: TOKEN,
      JOBSTREAM_PUBLIC_URL: proxy.url,
      JOBSTREAM_RESULTS_DIR: await tempDir('jobstream-redis-fault-results-'),
      MUSICAI_API_KEY: '',
      SUNOAPI_API_KEY: '',
      CAMBAI_API_KEY: '',
      [`${PROVIDERS.klangio.envPrefix}_API_KEY`]: fleet.simulators.klangio.apiKey,
      [`${PROVIDERS.klangio.envPrefix}_BASE_URL`]: fleet.baseUrl('klangio'),
      [`${PROVIDERS.klangio.envPrefix}_POLL_INTERVAL_MS`]: '1000',
    };
    const serves = [
      TestProcess.cli(['serve', '--port', '0', '--data', await tempDir('jobstream-redis-fault-a-'), '--redis', redis.url], env),
      TestProcess.cli(['serve', '--port', '0', '--data', await tempDir('jobstream-redis-fault-b-'), '--redis', redis.url], env),
    ];
    const urls = await Promise.all(serves.map((serve) => serve.waitForListening(30_000)));
    proxy.targets = [...urls];
    const health = (url: string) => api<Health>(url, '/healthz');

    // Load: submissions through both members, all the time; the simulator's webhooks through the proxy.
    const submits: Answer<{ job?: JobSnapshot; error?: { code: string } }>[] = [];
    const unexpected: string[] = [];
    let running = true;
    let n = 0;
    const submitter = async (): Promise<void> => {
      while (running) {
        const i = n++;
        let answer: Answer<{ job?: JobSnapshot; error?: { code: string } }>;
        try {
          answer = await api(urls[i % urls.length]!, '/v1/jobs', { method: 'POST', body: jobRequest(i, audio!.url) });
        } catch (error) {
          unexpected.push(`submit ${i}: ${String(error)}`);
          continue;
        }
        submits.push(answer);
        if (answer.status === 201 && answer.body.job !== undefined) ledger.see(answer.body.job, `submit ${i} (HTTP 201)`);
        else if (answer.status === 503) {
          // Refused while Redis is away: retried later, as a client would. No busy loop.
          if (answer.headers['retry-after'] === undefined) unexpected.push(`submit ${i}: 503 without Retry-After`);
          await sleep(100);
        } else unexpected.push(`submit ${i}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
      }
    };
    const load = Promise.all([submitter(), submitter(), submitter()]);
    await eventually(() => Promise.resolve(ledger.ids.length), (count) => count >= 12, { timeoutMs: 20_000, what: 'twelve jobs submitted before the outage' });

    // Redis dies (appendfsync always: everything it acknowledged is in its append-only file).
    await redis.kill();
    const killedAt = Date.now();
    const down = await Promise.all(
      urls.map((url) => eventually(() => health(url), (answer) => answer.status === 503, { timeoutMs: 5000, what: `${url}/healthz to answer 503` })),
    );
    const downSeen = Date.now();
    for (const answer of down) {
      expect(answer.body).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/^store: /) as unknown });
      expect(answer.body.reason).not.toContain(TOKEN);
    }
    // Without the token: only the status, for load balancers.
    expect((await api<Health>(urls[0]!, '/healthz', { token: false })).body).toEqual({ status: 'unavailable' });
    // REST writes are refused while it is down, on every member: nothing is recorded, so
    // nothing is sent to the provider.
    for (const [i, url] of urls.entries()) {
      const refused = await api<{ error: { code: string } }>(url, '/v1/jobs', { method: 'POST', body: jobRequest(10_000 + i, audio.url) });
      expect([refused.status, refused.body.error.code, refused.headers['retry-after'] !== undefined]).toEqual([503, 'STORE_UNAVAILABLE', true]);
    }
    // The outage lasts a while (the test's input), with the load going on.
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - killedAt)));
    const restartAt = Date.now();
    redis = await redis.restart();

    // The members recover by themselves.
    await Promise.all(urls.map((url) => eventually(() => health(url), (answer) => answer.status === 200, { timeoutMs: 15_000, what: `${url}/healthz to answer 200 again` })));
    const upAt = Date.now();
    const beforeRecovery = ledger.ids.length;
    await eventually(() => Promise.resolve(ledger.ids.length), (count) => count >= beforeRecovery + 8, { timeoutMs: 20_000, what: 'eight jobs submitted after the outage' });
    running = false;
    await load;
    expect(unexpected).toEqual([]);

    // While Redis was surely down, nothing new was acknowledged: no submission answered 201, no
    // webhook answered "applied" (a 2xx "duplicate" only confirms a state Redis already had).
    const during = (startedAt: number, endedAt: number) => startedAt >= downSeen && endedAt <= restartAt;
    expect(submits.filter((s) => s.status === 201 && during(s.startedAt, s.endedAt)).map((s) => s.body.job?.id)).toEqual([]);
    // (The load's own submissions may all be waiting for the shared rate budget, which waits for
    // Redis, when it goes away: then none is answered during the outage at all, neither 201 nor
    // 503. The refusals asked for above show the 503s; the wait is a known limitation.)
    const hooksDuring = proxy.answers.filter((a) => a.method === 'POST' && a.path.startsWith('/v1/hooks/') && a.at > downSeen && a.at < restartAt);
    expect(hooksDuring.filter((a) => a.ack?.outcome === 'applied').map((a) => `${a.target}${a.path}: ${JSON.stringify(a.ack)}`)).toEqual([]);
    expect(hooksDuring.filter((a) => a.status === 503).length).toBeGreaterThan(0);

    // Every job ends: the ones acknowledged as the simulator decided; a submission refused
    // during the outage was never sent to the provider and is kept as failed (STORE_UNAVAILABLE).
    const jobs = await eventually(() => listJobs(urls[1]!), (all) => all.every((job) => isTerminal(job.status)), {
      timeoutMs: 45_000,
      intervalMs: 250,
      what: 'every job to reach a terminal state',
    });
    const listed = new Map(jobs.map((job) => [job.id, job]));
    for (const job of jobs) ledger.expectAtLeast(job, 'GET /v1/jobs at the end');
    expect(ledger.problems).toEqual([]);
    expect(ledger.ids.filter((id) => !listed.has(id))).toEqual([]);
    const created = new Set(submits.filter((s) => s.status === 201).map((s) => s.body.job?.id));
    const wrong = jobs
      .filter((job) =>
        job.externalId === null
          ? created.has(job.id) || job.status !== 'failed' || job.error?.code !== 'STORE_UNAVAILABLE'
          : job.status !== fleet!.simulators.klangio.outcome(job.externalId),
      )
      .map((job) => `${job.id} (${job.externalId}): ${job.status} ${JSON.stringify(job.error)}${created.has(job.id) ? ', answered 201' : ''}`);
    expect(wrong).toEqual([]);
    // Every acknowledged webhook version is in the job's history (the same on both members).
    const acked = proxy.answers.filter((a) => a.ack !== undefined);
    const missing: string[] = [];
    for (const url of urls) {
      for (const id of new Set(acked.map((a) => a.ack!.jobId))) {
        const history = new Set((await api<{ changes: JobChange[] }>(url, `/v1/jobs/${id}/changes`)).body.changes.map((c) => c.job.version));
        for (const a of acked.filter((x) => x.ack!.jobId === id)) if (!history.has(a.ack!.version)) missing.push(`${id} v${a.ack!.version} not in the history at ${url}`);
      }
    }
    expect(missing).toEqual([]);
    // One epoch before and after: Redis kept its data, so nobody got a new log.
    const epochs = await Promise.all(urls.map(async (url) => (await health(url)).body.epoch));
    expect(new Set(epochs).size).toBe(1);

    report('redis-fault', {
      jobs: jobs.length,
      refusedSubmits: submits.filter((s) => s.status === 503).length,
      keptAsFailed: jobs.filter((job) => job.externalId === null).length,
      webhooks: acked.length,
      webhooks503: proxy.answers.filter((a) => a.path.startsWith('/v1/hooks/') && a.status === 503).length,
      downMs: restartAt - killedAt,
      recoveryMs: upAt - restartAt,
      totalMs: Date.now() - started,
    });
    for (const serve of serves) expect(await serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 120_000);
});
