import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProviderName } from '../../src/providers/provider-catalog.js';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import type { Listening } from '../../src/simulators/kit/listen.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { isTerminal } from '../../src/streams/job-status.js';
import { TestProcess } from '../support/processes.js';
import { startAudioServer } from './audio-server.js';
import { eventually } from './eventually.js';
import { startHookProxy, type HookAck, type HookProxy } from './hook-proxy.js';
import { JobLedger } from './job-ledger.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';
import { report, sized } from './reliability-size.js';
import { StreamWatcher } from './stream-watcher.js';

const CYCLES = sized({ ci: 50, full: 200 });
/** How long a cycle runs before the kill: a random moment in this range after the server is up. */
const KILL_AFTER_MS = { min: 20, max: 450 };
const TOKEN = 'reliability-crash-token-0123';
/** Webhook providers (Klangio, sunoapi.org) and a poll-only one (Camb.ai). */
const PROVIDERS_USED: readonly ProviderName[] = ['klangio', 'sunoapi', 'cambai'];

let dataDir: string | undefined;
let fleet: SimulatorFleet | undefined;
let audio: Listening | undefined;
let proxy: HookProxy | undefined;
const client = new Agent({ connections: 16 });
afterAll(async () => {
  await TestProcess.killAll();
  await proxy?.close();
  await fleet?.close();
  await audio?.close();
  await client.close();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

const random = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** A job request for the n-th submission, rotating over the providers. */
function jobRequest(n: number, audioUrl: string): Record<string, unknown> {
  switch (PROVIDERS_USED[n % PROVIDERS_USED.length]) {
    case 'klangio':
      return n % 2 === 0
        ? { provider: 'klangio', kind: 'transcription', input: { type: 'url', url: `${audioUrl}/riff-${n}.wav` }, options: { model: 'guitar', outputs: ['mxml'] } }
        : { provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url: `${audioUrl}/song-${n}.wav` } };
    case 'sunoapi':
      return { provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: `suno-${n}`, audioId: `track-${n}`, type: 'separate_vocal' } };
    default:
      return { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } };
  }
}

async function listJobs(url: string): Promise<JobSnapshot[]> {
  const jobs: JobSnapshot[] = [];
  let cursor: string | null = null;
  do {
    const answer = await request(`${url}/v1/jobs?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`, { dispatcher: client, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.statusCode).toBe(200);
    const page = (await answer.body.json()) as { jobs: JobSnapshot[]; nextCursor: string | null };
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return jobs;
}

describe('kill -9 of a real server, over and over', () => {
  it(`keeps every acknowledged webhook and everything shown over ${CYCLES} crash cycles, and finishes every job`, async () => {
    const started = Date.now();
    dataDir = await mkdtemp(join(tmpdir(), 'jobstream-reliability-crash-'));
    fleet = await startSimulatorFleet({ speed: 10, seed: 9_000, only: PROVIDERS_USED });
    audio = await startAudioServer();
    const ledger = new JobLedger();
    const acked = { proxy: 0, streamed: 0, submitted: 0 };
    /** Jobs promised or shown something since the last restart. */
    const touched = new Set<string>();
    proxy = await startHookProxy((ack: HookAck, via) => {
      acked.proxy += 1;
      touched.add(ack.jobId);
      ledger.see({ id: ack.jobId, version: ack.version }, via);
    });

    // Every webhook a simulator sends names a job's real hook URL (on the proxy); the test
    // sends those bodies again, straight to the server, while it runs.
    const hooks = new Map<string, unknown>();
    for (const name of ['klangio', 'sunoapi'] as const) {
      fleet.simulators[name].webhooks!.events.subscribe((event) => hooks.set(new URL(event.url).pathname, event.body));
    }

    const env: Record<string, string> = {
      JOBSTREAM_TOKEN: TOKEN,
      JOBSTREAM_PUBLIC_URL: proxy.url,
      MUSICAI_API_KEY: '',
    };
    for (const name of PROVIDERS_USED) {
      env[`${PROVIDERS[name].envPrefix}_API_KEY`] = fleet.simulators[name].apiKey;
      env[`${PROVIDERS[name].envPrefix}_BASE_URL`] = fleet.baseUrl(name);
    }
    const start = async (cycle: number): Promise<{ serve: TestProcess; url: string }> => {
      const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir!], env);
      // The data directory always loads: a server that cannot start fails here, with its stderr.
      const url = await serve.waitForListening(20_000).catch((error: Error) => {
        throw new Error(`cycle ${cycle}: the server did not start on the data directory\n${error.message}`);
      });
      proxy!.target = url;
      return { serve, url };
    };

    let submissions = 0;
    let interruptedRequests = 0;
    const killedAfter: number[] = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const { serve, url } = await start(cycle);
      // After a restart nothing promised or shown is missing or behind: each job touched in the
      // last cycle by itself, then every job (and, below, a new WebSocket subscription).
      for (const id of touched) {
        const answer = await request(`${url}/v1/jobs/${id}`, { dispatcher: client, headers: { authorization: `Bearer ${TOKEN}` } });
        const body = (await answer.body.json()) as { job: JobSnapshot };
        expect(answer.statusCode, `GET /v1/jobs/${id} after restart ${cycle}`).toBe(200);
        ledger.expectAtLeast(body.job, `GET /v1/jobs/${id} after restart ${cycle}`);
      }
      touched.clear();
      const listed = await listJobs(url);
      for (const job of listed) ledger.expectAtLeast(job, `GET /v1/jobs after restart ${cycle}`);
      const present = new Set(listed.map((job) => job.id));
      expect(ledger.ids.filter((id) => !present.has(id)), `jobs gone after restart ${cycle}`).toEqual([]);
      const watcher = await StreamWatcher.open(`${url.replace('http', 'ws')}/v1/stream`, TOKEN, [{ sub: 'all' }], {
        onJob: (_sub, job, from) => {
          touched.add(job.id);
          ledger.expectAtLeast(job, `WebSocket ${from} in cycle ${cycle}`);
        },
      });

      // Load until the kill: new jobs, and the simulators' webhook bodies sent again.
      let running = true;
      const submit = async (): Promise<void> => {
        const n = submissions++;
        try {
          const answer = await request(`${url}/v1/jobs`, {
            method: 'POST',
            dispatcher: client,
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify(jobRequest(n, audio!.url)),
          });
          const body = (await answer.body.json()) as { job: JobSnapshot };
          if (answer.statusCode === 201) {
            acked.submitted += 1;
            touched.add(body.job.id);
            ledger.see(body.job, `POST /v1/jobs answer in cycle ${cycle}`);
          }
        } catch {
          // Killed mid-request: nothing was promised.
          interruptedRequests += 1;
        }
      };
      const stream = async (): Promise<void> => {
        while (running && hooks.size > 0) {
          const paths = [...hooks.keys()];
          const path = paths[random(0, paths.length - 1)]!;
          try {
            const answer = await request(`${url}${path}`, {
              method: 'POST',
              dispatcher: client,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(hooks.get(path)),
            });
            const text = await answer.body.text();
            if (answer.statusCode === 200) {
              const ack = JSON.parse(text) as HookAck;
              acked.streamed += 1;
              touched.add(ack.jobId);
              ledger.see({ id: ack.jobId, version: ack.version }, `webhook answer to ${path} in cycle ${cycle}`);
            }
          } catch {
            interruptedRequests += 1;
            return;
          }
        }
      };
      const load = Promise.all([submit(), submit(), submit(), stream(), stream()]);
      const killAfter = random(KILL_AFTER_MS.min, KILL_AFTER_MS.max);
      killedAfter.push(killAfter);
      // The kill moment is the random input of this test, not a wait for something.
      await new Promise((resolve) => setTimeout(resolve, killAfter));
      serve.child.kill('SIGKILL');
      proxy.target = undefined;
      running = false;
      expect((await serve.exited).signal).toBe('SIGKILL');
      await load;
      await watcher.close();
      expect(watcher.allProblems(), `WebSocket stream in cycle ${cycle}`).toEqual([]);
      expect(ledger.problems, `after cycle ${cycle}`).toEqual([]);
    }
    const cyclesMs = Date.now() - started;

    // A last start: every job reaches the terminal state its simulator decided.
    const { serve, url } = await start(CYCLES + 1);
    for (const id of ledger.ids) {
      const answer = await request(`${url}/v1/jobs/${id}`, { dispatcher: client, headers: { authorization: `Bearer ${TOKEN}` } });
      ledger.expectAtLeast(((await answer.body.json()) as { job: JobSnapshot }).job, `GET /v1/jobs/${id} after the last restart`);
    }
    const jobs = await eventually(() => listJobs(url), (all) => all.every((job) => isTerminal(job.status)), {
      timeoutMs: sized({ ci: 90_000, full: 300_000 }),
      intervalMs: 250,
      what: 'every job to reach a terminal state after the last restart',
    });
    for (const job of jobs) ledger.expectAtLeast(job, 'GET /v1/jobs at the end');
    expect(ledger.problems).toEqual([]);
    expect(ledger.ids.filter((id) => !jobs.some((job) => job.id === id))).toEqual([]);
    const wrong = jobs
      .filter((job) =>
        job.externalId === null
          ? job.status !== 'failed' || job.error?.code !== 'SUBMIT_INTERRUPTED'
          : job.status !== fleet!.simulators[job.provider as ProviderName].outcome(job.externalId),
      )
      .map((job) => `${job.id} (${job.provider}/${job.kind} ${job.externalId}): ${job.status} ${JSON.stringify(job.error)}`);
    expect(wrong).toEqual([]);
    expect(await serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    report('crash', {
      cycles: CYCLES,
      jobs: jobs.length,
      interrupted: jobs.filter((job) => job.externalId === null).length,
      acks: `${acked.proxy} via proxy, ${acked.streamed} streamed, ${acked.submitted} submits`,
      proxyRefused: proxy.stats.refused,
      requestsCutByKill: interruptedRequests,
      meanKillAfterMs: Math.round(killedAfter.reduce((a, b) => a + b, 0) / killedAfter.length),
      cyclesMs,
      totalMs: Date.now() - started,
    });
    expect(acked.proxy + acked.streamed).toBeGreaterThan(CYCLES);
  }, sized({ ci: 300_000, full: 1_200_000 }));
});
