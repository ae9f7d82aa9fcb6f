import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderAdapter, ProviderJobRef } from '../../src/streams/provider-port.js';
import { PROVIDERS, type ProviderName } from '../../src/providers/provider-catalog.js';
import { simulatorBaseUrl, startSimulator } from '../../src/simulators/simulator-catalog.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import type { FaultProfilePatch } from '../../src/simulators/kit/fault-profile.js';
import { wavFile } from '../../src/simulators/kit/media.js';
import type { RunningSimulator } from '../../src/simulators/kit/simulator.js';
import type { WebhookEvent } from '../../src/simulators/kit/webhook-sender.js';
import type { SubmitRequest } from '../../src/streams/engine-requests.js';
import { createEngine, type Engine, type EngineEvent } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { JobSnapshot, JsonValue } from '../../src/streams/job-snapshot.js';
import { isTerminal, rank } from '../../src/streams/job-status.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import { startHtmlErrorServer } from '../support/html-error-server.js';
import { startWebhookIntake } from '../support/webhook-intake.js';
import { essence, expectFormat } from './expect-format.js';

/**
 * How a provider's webhooks relate to a job's outcome, as the contract checks it.
 * - `sends: false`: the provider never calls back; the webhook case is skipped, and `skipReason`
 *   says why (with the providers.md section that shows it).
 * - `terminal: 'webhook'`: a callback carries the whole outcome, so the terminal change of a job
 *   comes from a webhook and no poll is needed.
 * - `terminal: 'confirming-poll'`: a callback is only a hint: webhook-sourced changes stay below
 *   the terminal rank, and the poll the hint asks for brings the outcome.
 * - `terminal: (job) => …`: one of the two per finished job (its kind and status), where a
 *   provider's callbacks differ.
 */
export type ContractTerminal = 'webhook' | 'confirming-poll';
export type ContractWebhooks =
  | { sends: false; skipReason: string }
  | { sends: true; terminal: ContractTerminal | ((job: JobSnapshot) => ContractTerminal) };

/** One representative job the contract submits. */
export interface ContractSubmission {
  kind: string;
  /** `wav`: a generated WAV file uploaded as the job's input; `none`: the job takes no audio. */
  input: 'wav' | 'none';
  /** Provider options of the job. @default {} */
  options?: Record<string, JsonValue>;
  /**
   * A job of another kind of the same subject that must have succeeded first (sunoapi's `midi`
   * works on a finished `vocal-separation`). The contract runs that kind's own submission calmly,
   * before any fault is set, and merges `options(dependency)` into this submission's options.
   */
  dependsOn?: { kind: string; options: (dependency: JobSnapshot) => Record<string, JsonValue> };
}

/** A provider adapter and its simulator, as the contract suite sees them. */
export interface ContractSubject {
  provider: ProviderName;
  /** At least one submission per job kind the adapter declares. */
  submissions: readonly ContractSubmission[];
  webhooks: ContractWebhooks;
  /**
   * Simulator options beyond speed and seed, for the stricter variants of a provider (Klangio:
   * create answers whose `gen_*` flags differ from the request). @default {}
   */
  simulator?: Readonly<Record<string, unknown>>;
}

/** Quick polls; a webhook provider's watchdog is set per case. */
const FAST: Partial<PollPolicy> = {
  intervalMs: 20,
  watchdog: { quietMs: 100 },
  backoff: { initialMs: 10, maxMs: 200 },
  rate: { limit: 1000, windowMs: 1000 },
  maxInFlight: 16,
};
/** A watchdog that never fires within a test: only webhooks (and polls they ask for) move jobs. */
const NO_WATCHDOG: Partial<PollPolicy> = { ...FAST, watchdog: { quietMs: 60_000 } };
const WAIT = { timeoutMs: 10_000 };
const SPEED = 200;
const SEED = 17;
/** The key the wrong-key case uses. */
const WRONG_KEY = 'not-the-key';
/** The provider id the bad-answer case tracks. */
const PROBE_ID = 'contract-probe-1';

interface Rig {
  sim: RunningSimulator;
  adapter: ProviderAdapter;
  engine: Engine;
  /** Every published change, in order. */
  changes: JobChange[];
  events: EngineEvent[];
  /** What the simulator's webhook sender did (empty for poll-only providers). */
  hooks: WebhookEvent[];
}

interface RigOptions {
  /** Simulator clock speed. @default 200 */
  speed?: number;
  pollPolicy?: Partial<PollPolicy>;
  /** The key the adapter sends. @default the simulator's key */
  apiKey?: string;
}

/**
 * Declares the contract every provider adapter and its simulator must pass: each job kind
 * reaches the outcome the simulator decided (by polls alone, and through webhooks where the
 * provider sends them), failures carry the provider's code and message, faults (5xx, 429 with
 * `Retry-After`, webhook duplicates, reordering and drops) change no outcome and never move a
 * job backwards, result files are what their content type says, a wrong key fails cleanly, and
 * unreadable answers never crash the engine. Jobs run through the real engine (MemoryStore),
 * the adapter comes from the catalog, the simulator listens on port 0.
 *
 * @example
 * describeProviderContract({
 *   provider: 'cambai',
 *   webhooks: { sends: false, skipReason: 'Camb.ai documents no callbacks (providers.md §4.4)' },
 *   submissions: [{ kind: 'transcription', input: 'wav', options: { language: 1 } }],
 * });
 */
export function describeProviderContract(subject: ContractSubject): void {
  const info = PROVIDERS[subject.provider];
  const hooked = subject.webhooks.sends;

  describe(`${info.title} (${subject.provider}) against the provider contract`, () => {
    let dir = '';
    let wavPath = '';
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `contract-${subject.provider}-`));
      wavPath = join(dir, 'take.wav');
      await writeFile(wavPath, wavFile({ seconds: 0.05 }));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** A simulator, the catalog's adapter for it, an engine and, for webhook providers, an intake. */
    async function rig(options: RigOptions = {}): Promise<Rig> {
      const sim = await startSimulator(subject.provider, { ...subject.simulator, speed: options.speed ?? SPEED, seed: SEED });
      cleanups.push(() => sim.close());
      // Bounded, so that no download or poll of a stuck simulator can hang a test.
      const dispatcher = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
      cleanups.push(() => dispatcher.close());
      const adapter = info.createAdapter({
        apiKey: options.apiKey ?? sim.apiKey,
        baseUrl: simulatorBaseUrl(subject.provider, sim),
        dispatcher,
        pollPolicy: options.pollPolicy ?? FAST,
      });
      let intakeUrl = '';
      const engine = await createEngine({
        providers: [adapter],
        store: new MemoryStore(),
        ...(hooked ? { webhookUrl: (provider: string, token: string) => `${intakeUrl}/v1/hooks/${provider}/${token}` } : {}),
      });
      cleanups.push(() => engine.close());
      if (hooked) {
        const intake = await startWebhookIntake(engine);
        intakeUrl = intake.url;
        cleanups.push(() => intake.close());
      }
      const changes: JobChange[] = [];
      engine.changes$().subscribe((change) => changes.push(change));
      const events: EngineEvent[] = [];
      engine.events$.subscribe((event) => events.push(event));
      const hooks: WebhookEvent[] = [];
      sim.webhooks?.events.subscribe((event) => hooks.push(event));
      return { sim, adapter, engine, changes, events, hooks };
    }

    function requestOf(submission: ContractSubmission, extra: Record<string, JsonValue> = {}): SubmitRequest {
      return {
        provider: subject.provider,
        kind: submission.kind,
        options: { ...submission.options, ...extra },
        ...(submission.input === 'wav' ? { input: { type: 'file' as const, path: wavPath, contentType: 'audio/wav' } } : {}),
      };
    }

    /**
     * The submit requests of every submission, dependencies run first. Called before any fault
     * is set, so a dependency always succeeds.
     */
    async function plan(r: Rig): Promise<SubmitRequest[]> {
      const dependencies = new Map<string, JobSnapshot>();
      const requests: SubmitRequest[] = [];
      for (const submission of subject.submissions) {
        const needs = submission.dependsOn;
        if (needs === undefined) {
          requests.push(requestOf(submission));
          continue;
        }
        let dependency = dependencies.get(needs.kind);
        if (dependency === undefined) {
          const base = subject.submissions.find((s) => s.kind === needs.kind && s.dependsOn === undefined);
          if (base === undefined) throw new Error(`${submission.kind} depends on ${needs.kind}, which has no submission of its own`);
          dependency = await r.engine.waitFor((await r.engine.submit(requestOf(base))).id, WAIT);
          expect(dependency.status, `the ${needs.kind} job that ${submission.kind} needs: ${JSON.stringify(dependency.error)}`).toBe('succeeded');
          dependencies.set(needs.kind, dependency);
        }
        requests.push(requestOf(submission, needs.options(dependency)));
      }
      return requests;
    }

    /** Submits every request; each must have reached the provider (it has an external id). */
    async function submitAll(r: Rig, requests: readonly SubmitRequest[]): Promise<JobSnapshot[]> {
      const jobs = await Promise.all(requests.map((request) => r.engine.submit(request)));
      for (const job of jobs) expect(job.externalId, `${job.kind} was not accepted: ${JSON.stringify(job.error)}`).not.toBeNull();
      return jobs;
    }

    /**
     * Submits every request twice: once while the simulator fails every new job and once while it
     * fails none, so that both terminal paths run for every kind.
     */
    async function submitBothWays(r: Rig, requests: readonly SubmitRequest[]): Promise<JobSnapshot[]> {
      r.sim.setFaults({ jobFailureRate: 1 });
      const failing = await submitAll(r, requests);
      r.sim.setFaults({ jobFailureRate: 0 });
      const succeeding = await submitAll(r, requests);
      for (const job of failing) expect(r.sim.outcome(job.externalId!), `${job.kind}: jobFailureRate 1`).toBe('failed');
      for (const job of succeeding) expect(r.sim.outcome(job.externalId!), `${job.kind}: jobFailureRate 0`).toBe('succeeded');
      return [...failing, ...succeeding];
    }

    function waitAll(r: Rig, jobs: readonly JobSnapshot[], timeoutMs = WAIT.timeoutMs): Promise<JobSnapshot[]> {
      return Promise.all(jobs.map((job) => r.engine.waitFor(job.id, { timeoutMs })));
    }

    /** The job ended as the simulator decided, and carries its result (or its error). */
    function expectDecidedOutcome(r: Rig, job: JobSnapshot): void {
      expect(job.status, `${job.kind} ${job.externalId}: ${JSON.stringify(job.error)}`).toBe(r.sim.outcome(job.externalId!));
      if (job.status === 'succeeded') expect(job.result, `${job.kind}: succeeded without a result`).not.toBeNull();
      else expect(job.error, `${job.kind}: failed without an error`).not.toBeNull();
    }

    function changesOf(r: Rig, job: JobSnapshot): JobChange[] {
      return r.changes.filter((change) => change.job.id === job.id);
    }

    /** The change that made the job terminal. */
    function terminalChange(r: Rig, job: JobSnapshot): JobChange {
      const change = changesOf(r, job).find((c) => isTerminal(c.job.status));
      expect(change, `${job.kind} has no terminal change`).toBeDefined();
      return change!;
    }

    function pollsOf(r: Rig, jobId?: string): Extract<EngineEvent, { type: 'poll' }>[] {
      return r.events.filter(
        (e): e is Extract<EngineEvent, { type: 'poll' }> => e.type === 'poll' && e.provider === subject.provider && (jobId === undefined || e.jobId === jobId),
      );
    }

    it('covers every job kind the adapter declares, and agrees on whether it sends webhooks', () => {
      const dispatcher = createDispatcher();
      cleanups.push(() => dispatcher.close());
      const adapter = info.createAdapter({ apiKey: 'contract-key', baseUrl: 'http://127.0.0.1:9', dispatcher });
      expect(new Set(subject.submissions.map((s) => s.kind))).toEqual(new Set(adapter.kinds));
      expect(adapter.webhooks).toBe(hooked);
      expect(adapter.parseWebhook !== undefined).toBe(hooked);
    });

    it('brings every job kind to the outcome the simulator decided, failed or succeeded, by polling alone', async () => {
      const r = await rig();
      const requests = await plan(r);
      // Webhook providers still get a callback URL, but every delivery is dropped.
      if (hooked) r.sim.setFaults({ webhook: { dropRate: 1 } });
      const done = await waitAll(r, await submitBothWays(r, requests));
      for (const job of done) {
        expectDecidedOutcome(r, job);
        expect(changesOf(r, job).filter((c) => c.job.source === 'webhook')).toEqual([]);
        expect(terminalChange(r, job).job.source).toBe('poll');
        // A result found by polling is as complete as one a webhook brings: it offers its files.
        if (job.status === 'succeeded') expect(r.engine.resultFiles(job.id).length, `${job.kind} offers no file`).toBeGreaterThan(0);
      }
      if (hooked) expect(r.hooks.filter((e) => e.type === 'dropped').length).toBeGreaterThanOrEqual(done.length);
    });

    const webhookCase = 'brings every job kind to the outcome the simulator decided, failed or succeeded, through its webhooks';
    const { webhooks } = subject;
    if (!webhooks.sends) {
      it.skip(`${webhookCase} (skipped: ${webhooks.skipReason})`, () => undefined);
    } else {
      it(webhookCase, async () => {
        // The watchdog waits a minute after each webhook, so within the test only webhooks (and,
        // for hint-only callbacks, the confirming polls they ask for) can move a job.
        const r = await rig({ speed: 10, pollPolicy: NO_WATCHDOG });
        const done = await waitAll(r, await submitBothWays(r, await plan(r)));
        for (const job of done) {
          expectDecidedOutcome(r, job);
          const fromHooks = changesOf(r, job).filter((c) => c.job.source === 'webhook');
          expect(fromHooks.length, `${job.kind}: no change came from a webhook`).toBeGreaterThan(0);
          const terminal = terminalChange(r, job);
          const mode = typeof webhooks.terminal === 'string' ? webhooks.terminal : webhooks.terminal(job);
          if (mode === 'webhook') {
            // The callback carried the outcome; the watchdog never had to poll.
            expect(terminal.job.source).toBe('webhook');
            expect(pollsOf(r, job.id)).toEqual([]);
          } else {
            // Hints move a job at most to running; a poll (the one a hint asked for) found the outcome.
            expect(fromHooks.map((c) => c.job.status)).toEqual(fromHooks.map(() => 'running'));
            expect(terminal.job.source).toBe('poll');
            expect(pollsOf(r, job.id).some((p) => p.outcome === 'ok' && p.observed === job.status)).toBe(true);
          }
        }
      });
    }

    it('fails a job the provider fails, with the provider’s error code and message', async () => {
      const r = await rig();
      const requests = await plan(r);
      r.sim.setFaults({ jobFailureRate: 1 });
      const done = await waitAll(r, await submitAll(r, requests));
      for (const job of done) {
        expect(r.sim.outcome(job.externalId!)).toBe('failed');
        expect(job.status).toBe('failed');
        expect(job.result).toBeNull();
        expect(job.error?.code, `${job.kind}: error code`).toMatch(/\S/);
        expect(job.error?.message, `${job.kind}: error message`).toMatch(/\S/);
      }
    });

    it('reaches every decided outcome under 5xx, a rate limit and webhook faults, never going backwards and honouring Retry-After', async () => {
      // Slow enough that jobs are still running when the faults start, so polls meet them.
      const r = await rig({ speed: 10, pollPolicy: { ...FAST, watchdog: { quietMs: 50 } } });
      // Submissions go out calm: a 5xx on create fails the job by design (the provider may have
      // made it), so the faults are aimed at polls and webhooks.
      const jobs = await submitBothWays(r, await plan(r));
      const seen = new Map<string, JobSnapshot[]>();
      for (const job of jobs) {
        const list: JobSnapshot[] = [];
        seen.set(job.id, list);
        r.engine.job$(job.id).subscribe({ next: (snapshot) => list.push(snapshot), error: () => undefined });
      }
      const faults: FaultProfilePatch = {
        serverErrorRate: 0.3,
        // Small for the workload: polls every 20 ms of every job meet it within a window.
        rateLimit: { limit: Math.max(4, jobs.length), windowMs: 500, retryAfterSeconds: 1 },
        ...(hooked ? { webhook: { duplicateRate: 0.3, reorderRate: 0.3, dropRate: 0.2, lateMs: 100 } } : {}),
      };
      r.sim.setFaults(faults);

      const done = await waitAll(r, jobs, 15_000);
      for (const job of done) {
        expectDecidedOutcome(r, job);
        const snapshots = seen.get(job.id)!;
        expect(snapshots.at(-1)?.status).toBe(job.status);
        for (let i = 1; i < snapshots.length; i++) {
          expect(snapshots[i]!.version, `${job.kind}: version went down`).toBeGreaterThan(snapshots[i - 1]!.version);
          expect(rank(snapshots[i]!.status), `${job.kind}: status went back`).toBeGreaterThanOrEqual(rank(snapshots[i - 1]!.status));
        }
        const logged = changesOf(r, job).map((c) => c.job.version);
        expect(logged).toEqual([...logged].sort((a, b) => a - b));
      }

      // Both faults really happened to polls.
      const polls = pollsOf(r);
      expect(polls.some((p) => p.outcome === 'unavailable'), 'no poll met a 5xx').toBe(true);
      const limited = polls.filter((p) => p.outcome === 'rate-limited');
      expect(limited.length, 'no poll was rate-limited').toBeGreaterThan(0);
      for (const hit of limited) {
        expect(hit.retryAfterMs).toBe(1000);
        // Polls already in flight when the 429 came back are not covered; every later one waited.
        for (const poll of polls.filter((p) => p.startedAt > hit.endedAt)) {
          expect(poll.startedAt, 'a poll went out before Retry-After').toBeGreaterThanOrEqual(hit.endedAt + hit.retryAfterMs!);
        }
      }
      if (hooked) expect(r.hooks.some((e) => e.type === 'duplicated' || e.type === 'held' || e.type === 'dropped')).toBe(true);
    });

    it('offers the result files of a succeeded job, each in the format its content type names', async () => {
      const r = await rig();
      const done = await waitAll(r, await submitAll(r, await plan(r)));
      for (const job of done) {
        expect(job.status, `${job.kind}: ${JSON.stringify(job.error)}`).toBe('succeeded');
        expectDecidedOutcome(r, job);
        const files = r.engine.resultFiles(job.id);
        expect(files.length, `${job.kind} offers no result file`).toBeGreaterThan(0);
        expect(new Set(files.map((f) => f.name)).size).toBe(files.length);
        for (const file of files) {
          const download = await r.engine.openResult(job.id, file.name);
          const bytes = await buffer(download.body);
          const label = `${job.kind} ${file.name} (${file.contentType})`;
          expect(essence(download.contentType), `${label}: served as ${download.contentType}`).toBe(essence(file.contentType));
          expectFormat(label, file.contentType, bytes);
        }
      }
    });

    it('fails a submission with PROVIDER_UNAUTHORIZED for a wrong key, and polls nothing', async () => {
      const r = await rig({ apiKey: WRONG_KEY });
      // A dependent job needs a finished job of the right key first; the others show the contract.
      const independent = subject.submissions.filter((s) => s.dependsOn === undefined);
      const jobs = await Promise.all(independent.map((s) => r.engine.submit(requestOf(s))));
      for (const job of jobs) {
        expect(job.status).toBe('failed');
        expect(job.error?.code).toBe('PROVIDER_UNAUTHORIZED');
        // No provider id, so nothing can ever be polled.
        expect(job.externalId).toBeNull();
      }
      await r.engine.close();
      expect(pollsOf(r)).toEqual([]);
    });

    describe.each([
      { status: 200, failure: 'invalid-response', outcome: 'failed' },
      { status: 502, failure: 'unavailable', outcome: 'unavailable' },
    ] as const)('when every answer is an HTML error page with status $status', ({ status, failure, outcome }) => {
      it(`keeps the job unfinished, reads each poll as ${outcome} and keeps running; a direct poll rejects as ${failure}`, async () => {
        const server = await startHtmlErrorServer(status);
        cleanups.push(() => server.close());
        const dispatcher = createDispatcher({ headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
        cleanups.push(() => dispatcher.close());
        const adapter = info.createAdapter({ apiKey: 'contract-key', baseUrl: server.url + info.basePath, dispatcher, pollPolicy: FAST });
        const engine = await createEngine({ providers: [adapter], store: new MemoryStore() });
        cleanups.push(() => engine.close());
        const events: EngineEvent[] = [];
        engine.events$.subscribe((event) => events.push(event));
        const pollsOfJob = (id: string): Extract<EngineEvent, { type: 'poll' }>[] =>
          events.filter((e): e is Extract<EngineEvent, { type: 'poll' }> => e.type === 'poll' && e.jobId === id);

        const sample = subject.submissions.find((s) => s.dependsOn === undefined)!;
        const ref: ProviderJobRef = { externalId: PROBE_ID, kind: sample.kind, options: sample.options ?? {} };
        const job = await engine.track({ provider: subject.provider, ...ref });
        await expect.poll(() => pollsOfJob(job.id).length, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
        expect(pollsOfJob(job.id).map((p) => p.outcome)).toEqual(pollsOfJob(job.id).map(() => outcome));
        expect(isTerminal(engine.get(job.id)!.status)).toBe(false);

        // Still running: another job is adopted and polled the same way.
        const other = await engine.track({ provider: subject.provider, ...ref, externalId: `${PROBE_ID}-b` });
        await expect.poll(() => pollsOfJob(other.id).length, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
        expect(pollsOfJob(other.id)[0]?.outcome).toBe(outcome);
        expect(isTerminal(engine.get(job.id)!.status)).toBe(false);

        const error = await adapter.poll(ref, { signal: AbortSignal.timeout(5000) }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ProviderError);
        expect(error).toMatchObject({ provider: subject.provider, failure });
      });
    });
  });
}
