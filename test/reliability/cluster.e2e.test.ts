import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS, type ProviderName } from '../../src/providers/provider-catalog.js';
import type { Listening } from '../../src/simulators/kit/listen.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { isTerminal } from '../../src/streams/job-status.js';
import { TestProcess } from '../support/processes.js';
import { killAllRedis, redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';
import { startAudioServer } from './audio-server.js';
import { eventually } from './eventually.js';
import type { HookAck } from './hook-proxy.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';
import { report, sized } from './reliability-size.js';
import { startRequestRecorder, type RecordedRequest, type RequestRecorder } from './request-recorder.js';
import { ResumingSubscriber } from './resuming-subscriber.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';

const redisCheck = redisForTests();

/** How long a member's claim on a poll holds (the `redisCluster` default `jobstream serve` uses). */
const LEASE_MS = 60_000;
/** Counts the poll-job hashes (KEYS pattern ARGV[1]) whose claim token contains ARGV[2]: one atomic look. */
const CLAIMS_OF = `local n = 0
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
  local claim = redis.call('HGET', key, 'claim')
  if claim and string.find(claim, ARGV[2], 1, true) then n = n + 1 end
end
return n`;

const TOKEN = 'reliability-cluster-token-0123';
const JOBS = sized({ ci: 90, full: 300 });
/** Simulator clock: a Klangio job takes about 1–3 s, a separation about 0.3–1 s. */
const SPEED = 3;
/** Every member polls at this interval once a webhook asked for a poll (the watchdog waits longer). */
const POLL_INTERVAL_MS = 1000;
/** Two that send webhooks (polls confirm them) and one that is only polled (Camb.ai). */
const PROVIDERS_USED = ['klangio', 'sunoapi', 'cambai'] as const satisfies readonly ProviderName[];
const MEMBERS = ['a', 'b', 'c'] as const;
/** The member that is killed with SIGKILL mid-run. */
const VICTIM = 2;

let redis: RunningRedis | undefined;
let fleet: SimulatorFleet | undefined;
let audio: Listening | undefined;
let proxy: RoundRobinProxy | undefined;
const recorders: RequestRecorder[] = [];
const subscribers: ResumingSubscriber[] = [];
const dirs: string[] = [];
const client = new Agent({ connections: 16 });
afterAll(async () => {
  for (const subscriber of subscribers) await subscriber.leave();
  await TestProcess.killAll();
  await proxy?.close();
  for (const recorder of recorders) await recorder.close();
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

/**
 * The n-th job: Klangio transcriptions and beat tracking (the input is downloaded first),
 * sunoapi.org separations, and Camb.ai transcriptions (polled every interval until done: the
 * polls that the shared schedule's leases must not double).
 */
function jobRequest(n: number, audioUrl: string): Record<string, unknown> {
  switch (n % 6) {
    case 0:
    case 3:
      return { provider: 'klangio', kind: 'transcription', input: { type: 'url', url: `${audioUrl}/riff-${n}.wav` }, options: { model: 'guitar', outputs: ['mxml'] } };
    case 1:
      return { provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url: `${audioUrl}/song-${n}.wav` } };
    case 5:
      return { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } };
    default:
      return { provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: `suno-${n}`, audioId: `track-${n}`, type: 'separate_vocal' } };
  }
}

async function api<T>(url: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const answer = await request(`${url}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    dispatcher: client,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: answer.statusCode, body: (await answer.body.json()) as T };
}

async function listJobs(url: string): Promise<JobSnapshot[]> {
  const jobs: JobSnapshot[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { jobs: JobSnapshot[]; nextCursor: string | null } } = await api(url, `/v1/jobs?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(page.status).toBe(200);
    jobs.push(...page.body.jobs);
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return jobs;
}

/** A poll of a provider job, as the simulators' request logs show it: the job it asks about, or undefined. */
function polledJob(provider: (typeof PROVIDERS_USED)[number], r: RecordedRequest): string | undefined {
  if (r.method !== 'GET') return undefined;
  const pattern = {
    klangio: /^\/job\/([^/?]+)\/status$/,
    sunoapi: /^\/api\/v1\/vocal-removal\/record-info\?taskId=([^&]+)$/,
    cambai: /^\/apis\/transcribe\/([^/?]+)$/,
  }[provider];
  const match = pattern.exec(r.url);
  return match?.[1] === undefined ? undefined : `${provider}:${decodeURIComponent(match[1])}`;
}

/**
 * Polls of one job by two different members less than half an interval apart: what the shared
 * schedule's leases should prevent. Consecutive polls by one member (a webhook asking for a
 * poll while one is under way) are the schedule working as in one process.
 */
function duplicatePolls(requests: Readonly<Record<(typeof PROVIDERS_USED)[number], readonly RecordedRequest[]>>): { polls: number; duplicates: string[] } {
  const byJob = new Map<string, RecordedRequest[]>();
  let polls = 0;
  for (const provider of PROVIDERS_USED) {
    for (const r of requests[provider]) {
      const job = polledJob(provider, r);
      if (job === undefined) continue;
      polls += 1;
      const list = byJob.get(job);
      if (list === undefined) byJob.set(job, [r]);
      else list.push(r);
    }
  }
  const duplicates: string[] = [];
  for (const [job, list] of byJob) {
    list.sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1] as RecordedRequest;
      const poll = list[i] as RecordedRequest;
      if (poll.caller !== before.caller && poll.startedAt - before.startedAt < POLL_INTERVAL_MS / 2) {
        duplicates.push(`${job}: ${before.caller} at ${before.startedAt}, ${poll.caller} at ${poll.startedAt}`);
      }
    }
  }
  return { polls, duplicates };
}

describe.skipIf(redisCheck.skip !== undefined)('a cluster of three `jobstream serve` processes on one Redis, behind a round-robin proxy (issue #12)', () => {
  it(`runs ${JOBS} jobs through all three and a kill -9 of one: every job ends as its simulator decided, every subscriber sees every version once and in order (the moved one too), no acknowledged webhook is lost, and under 1% of polls are duplicates`, async () => {
    const started = Date.now();
    redis = await startRedis({ appendfsync: 'always' });
    fleet = await startSimulatorFleet({ speed: SPEED, seed: 12_345, only: PROVIDERS_USED });
    audio = await startAudioServer();
    const acks: (HookAck & { target: string })[] = [];
    proxy = await startRoundRobinProxy((ack, target) => acks.push({ ...ack, target }));
    const resultsDir = await tempDir('jobstream-cluster-results-');

    // Three members: the same Redis, token and provider keys; each its own data directory and
    // its own recorder in front of each simulator (so the request logs say which member called).
    const serves: TestProcess[] = [];
    const recorded: Record<(typeof PROVIDERS_USED)[number], RequestRecorder[]> = { klangio: [], sunoapi: [], cambai: [] };
    for (const name of MEMBERS) {
      const env: Record<string, string> = {
        JOBSTREAM_TOKEN: TOKEN,
        JOBSTREAM_PUBLIC_URL: proxy.url,
        JOBSTREAM_RESULTS_DIR: resultsDir,
        MUSICAI_API_KEY: '',
      };
      for (const provider of PROVIDERS_USED) {
        const recorder = await startRequestRecorder(fleet.simulators[provider].url, name);
        recorders.push(recorder);
        recorded[provider].push(recorder);
        const { envPrefix, basePath } = PROVIDERS[provider];
        env[`${envPrefix}_API_KEY`] = fleet.simulators[provider].apiKey;
        env[`${envPrefix}_BASE_URL`] = `${recorder.url}${basePath}`;
        env[`${envPrefix}_POLL_INTERVAL_MS`] = String(POLL_INTERVAL_MS);
      }
      serves.push(TestProcess.cli(['serve', '--port', '0', '--data', await tempDir(`jobstream-cluster-${name}-`), '--redis', redis.url], env));
    }
    const urls = await Promise.all(serves.map((serve) => serve.waitForListening(30_000)));
    proxy.targets = [...urls];
    const victim = { serve: serves[VICTIM]!, url: urls[VICTIM]! };
    const survivors = urls.filter((_, i) => i !== VICTIM);

    // A subscriber on each member, from before the first job.
    for (const [i, url] of urls.entries()) {
      const subscriber = new ResumingSubscriber(`subscriber of ${MEMBERS[i]}`, TOKEN);
      subscribers.push(subscriber);
      await subscriber.connect(url);
    }

    const submitted = new Map<string, string>();
    const submitErrors: string[] = [];
    const submitAll = async (numbers: readonly number[], targets: readonly string[], workers: number): Promise<void> => {
      const queue = [...numbers];
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            const url = targets[n % targets.length]!;
            const answer = await api<{ job: JobSnapshot }>(url, '/v1/jobs', { method: 'POST', body: jobRequest(n, audio!.url) });
            if (answer.status !== 201) submitErrors.push(`job ${n} at ${url}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
            else submitted.set(answer.body.job.id, url);
          }
        }),
      );
    };
    const numbers = Array.from({ length: JOBS }, (_, n) => n);
    const half = Math.floor(JOBS / 2);

    // The first half through all three members.
    await submitAll(numbers.slice(0, half), urls, 6);
    const victimJobs = [...submitted].filter(([, url]) => url === victim.url).map(([id]) => id);
    expect(victimJobs.length).toBeGreaterThan(0);

    // The second half through the two others, and meanwhile the third is killed: its jobs are
    // under way at the providers (webhooks due, polls to make), nothing of its own in flight.
    const secondHalf = submitAll(numbers.slice(half), survivors, 4);
    const moved = subscribers[VICTIM]!;
    const before = subscribers[0]!.seq;
    await subscribers[0]!.until(() => subscribers[0]!.seq >= before + 10, 'ten changes of the second half');
    const unfinishedAtKill = victimJobs.filter((id) => !isTerminal((moved.seen.findLast((c) => c.id === id)?.status ?? 'queued') as JobSnapshot['status'])).length;
    // Preferably not while it holds a poll: another member takes a dead member's poll only
    // when its lease (60 s, which `jobstream serve` does not let one shorten) has run out.
    const schedule = new Redis(redis.url);
    const victimPid = `:${victim.serve.child.pid}:`;
    const claimsOfVictim = async (): Promise<number> => Number(await schedule.eval(CLAIMS_OF, 0, 'jobstream:poll-job:*', victimPid));
    await eventually(claimsOfVictim, (claims) => claims === 0, { timeoutMs: 10_000, intervalMs: 1, what: 'a moment when the member to kill holds no poll' });
    const killedAt = Date.now();
    victim.serve.child.kill('SIGKILL');
    expect((await victim.serve.exited).signal).toBe('SIGKILL');
    // It may have claimed one since: those jobs are polled once the lease runs out.
    const leasesAtKill = await claimsOfVictim();
    schedule.disconnect();
    // Its subscriber notices and resumes at another member, from where it stopped.
    await moved.closed();
    const movedAt = moved.seq;
    await moved.connect(survivors[0]!);
    await secondHalf;
    expect(submitErrors).toEqual([]);
    expect(submitted.size).toBe(JOBS);

    // Every job reaches the state its simulator decided.
    const jobs = await eventually(() => listJobs(survivors[0]!), (all) => all.length === JOBS && all.every((job) => isTerminal(job.status)), {
      timeoutMs: 45_000 + (leasesAtKill > 0 ? LEASE_MS : 0),
      intervalMs: 250,
      what: 'every job to reach a terminal state',
    }).catch(async (error: Error) => {
      // What each unfinished job went through: its schedule in Redis, its webhooks, its polls.
      const lines: string[] = [];
      const schedule = new Redis(redis!.url);
      for (const j of (await listJobs(survivors[0]!)).filter((x) => !isTerminal(x.status))) {
        const hooks = proxy!.answers.filter((a) => a.path.includes(j.id)).map((a) => [a.at, a.status, a.target, a.ack?.outcome, a.ack?.version]);
        const polls = PROVIDERS_USED.flatMap((p) => recorded[p].flatMap((r) => r.requests)).filter((q) => j.externalId !== null && q.url.includes(j.externalId));
        lines.push(
          `${j.id} (${j.provider} ${j.externalId}, submitted at ${submitted.get(j.id)}): ${j.status} v${j.version}, updated ${j.updatedAt} (kill at ${killedAt})`,
          `  schedule ${JSON.stringify(await schedule.hgetall(`jobstream:poll-job:${j.id}`))}`,
          `  webhooks ${JSON.stringify(hooks)}`,
          `  provider calls ${JSON.stringify(polls.map((q) => [q.caller, q.method, q.url, q.startedAt, q.status]))}`,
        );
      }
      schedule.disconnect();
      throw new Error(`${error.message.slice(0, 300)}\nunfinished:\n${lines.join('\n')}`);
    });
    const wrong = jobs
      .filter((job) => job.externalId === null || job.status !== fleet!.simulators[job.provider as ProviderName].outcome(job.externalId))
      .map((job) => `${job.id} (${job.provider}/${job.kind} ${job.externalId}, submitted at ${submitted.get(job.id)}): ${job.status} ${JSON.stringify(job.error)}`);
    expect(wrong).toEqual([]);

    // Result copies finish too (each by the member that committed the success). A copy the
    // killed member had under way stays pending until a member starts again (the restore picks
    // it up): only jobs that succeeded before the kill may be left so.
    const settled = await eventually(
      () => listJobs(survivors[0]!),
      (all) => all.every((job) => job.artifacts?.state !== 'pending' || job.updatedAt < killedAt),
      { timeoutMs: 20_000, intervalMs: 250, what: 'every result copy made after the kill to finish' },
    );
    const copiesLeftByVictim = settled.filter((job) => job.artifacts?.state === 'pending').length;
    expect(settled.filter((job) => job.artifacts?.state === 'failed').map((job) => `${job.id}: ${JSON.stringify(job.artifacts)}`)).toEqual([]);

    // Every subscriber, the moved one included, was sent each job's versions exactly once and
    // in order: 1, 2, …, up to the final one (or a newer one: a result copy may still finish).
    const final = new Map((await listJobs(survivors[0]!)).map((job) => [job.id, job]));
    for (const subscriber of subscribers) {
      await subscriber.until(() => [...final.values()].every((job) => subscriber.latest(job.id) >= job.version), `${subscriber.name}: every job's final version`);
    }
    for (const subscriber of subscribers) {
      const gaps = [...final.values()]
        .map((job) => ({ id: job.id, versions: subscriber.versions(job.id), expected: Array.from({ length: subscriber.latest(job.id) }, (_, i) => i + 1) }))
        .filter(({ versions, expected }) => versions.join() !== expected.join())
        .map(({ id, versions, expected }) => `${id}: sent ${versions.join(',')}, expected ${expected.join(',')}`);
      expect(gaps, subscriber.name).toEqual([]);
      expect(subscriber.problems, subscriber.name).toEqual([]);
      expect(subscriber.snapshotJobs, `${subscriber.name}: jobs in snapshots`).toEqual([]);
    }
    // The moved subscriber resumed (no snapshot) and one epoch names the log on every member.
    expect(moved.answers).toEqual(['snapshot:subscribe', 'resumed']);
    expect(moved.seen.some((c) => c.seq > movedAt && c.from === survivors[0])).toBe(true);
    expect(new Set(subscribers.flatMap((s) => s.hellos)).size).toBe(1);

    // No webhook a member acknowledged (2xx) was lost: the job is at least at that version, and
    // its history has it. Acknowledgements by the member that died included.
    expect(acks.length).toBeGreaterThan(JOBS / 2);
    const lost: string[] = [];
    const histories = new Map<string, Set<number>>();
    for (const ack of acks) {
      const job = final.get(ack.jobId);
      let history = histories.get(ack.jobId);
      if (history === undefined) {
        const answer = await api<{ changes: JobChange[] }>(survivors[0]!, `/v1/jobs/${ack.jobId}/changes`);
        history = new Set(answer.body.changes.map((change) => change.job.version));
        histories.set(ack.jobId, history);
      }
      if (job === undefined || job.version < ack.version || !history.has(ack.version)) {
        lost.push(`${ack.jobId} v${ack.version} (acknowledged by ${ack.target}): now ${job === undefined ? 'missing' : `v${job.version}`}`);
      }
    }
    expect(lost).toEqual([]);
    const ackedByVictim = acks.filter((ack) => ack.target === victim.url).length;
    expect(ackedByVictim).toBeGreaterThan(0);

    // Polls: each due poll made by one member; duplicates by two members under 1% of all polls.
    const requests = Object.fromEntries(PROVIDERS_USED.map((p) => [p, recorded[p].flatMap((r) => r.requests)])) as Record<(typeof PROVIDERS_USED)[number], RecordedRequest[]>;
    const { polls, duplicates } = duplicatePolls(requests);
    expect(polls).toBeGreaterThan(JOBS);
    expect(duplicates.length, duplicates.join('\n')).toBeLessThan(polls * 0.01);

    report('cluster', {
      jobs: JOBS,
      unfinishedAtKill,
      leasesAtKill,
      acks: acks.length,
      ackedByVictim,
      proxySkipped: proxy.stats.skipped,
      proxy502: proxy.stats.badGateway,
      polls,
      duplicatePolls: duplicates.length,
      pollsByMember: MEMBERS.map((name) => `${name}:${PROVIDERS_USED.flatMap((p) => requests[p].filter((r) => r.caller === name && polledJob(p, r) !== undefined)).length}`).join('/'),
      copiesLeftByVictim,
      totalMs: Date.now() - started,
    });
    for (const serve of serves.filter((s) => s !== victim.serve)) expect(await serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 180_000);
});
