import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/streams/engine.js';
import type { EngineOptions } from '../../src/streams/engine-options.js';
import { StoreUnavailableError, UnknownJobError } from '../../src/streams/errors.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

/**
 * One store (a data directory, a Redis keyspace) that engines open, close and open again. The
 * contract drives it; the subject says how it is made and how it is made to fail.
 */
export interface StoreUnderTest {
  /** Opens an engine on this store: the first time on an empty one, later on what it holds. */
  open(options: Pick<EngineOptions, 'providers' | 'scheduler' | 'random' | 'webhookUrl' | 'retainMs'> & { resultsDir: string }): Promise<Engine>;
  /**
   * What a `kill -9` of the engines open on this store now would leave: a data directory copied
   * as it is on disk (embedded), the same keyspace (cluster: Redis keeps what it acknowledged).
   */
  afterCrash(): Promise<StoreUnderTest>;
  /** Makes the store refuse writes (a full disk, Redis gone) until {@link repair}. */
  break(): Promise<void>;
  /** Lets it write again. */
  repair(): Promise<void>;
  /** Removes what {@link StoreSubject.create} made. */
  dispose(): Promise<void>;
}

/** A kind of store the engine runs on, as the contract suite sees it. */
export interface StoreSubject {
  /** Names the backend in the test titles, e.g. `embedded (FileStore)`. */
  name: string;
  /** Why this backend cannot run here (the tests are then skipped with it). */
  skip?: string | undefined;
  /** Once before the suite (start a server); once after it. */
  beforeAll?: () => Promise<void>;
  afterAll?: () => Promise<void>;
  /** A new, empty store. */
  create(): Promise<StoreUnderTest>;
}

const input = { type: 'url' as const, url: 'https://example.com/song.wav' };

/** What a subscriber compares of a change. */
const wire = (changes: readonly JobChange[]) => changes.map((c) => [c.epoch, c.seq, c.job.id, c.job.version, c.job.status, c.previousStatus]);

/**
 * Declares the engine-level behaviours every store backend must give, the embedded one (one
 * process, a data directory) and the cluster one (Redis) alike: a submission is published with
 * the log's epoch and consecutive seqs; webhooks and polls fold into versions in order; a
 * repeated or late webhook makes no new version; a subscriber resumes with exactly what it
 * missed; a job's history; a restart on the same store keeps jobs, epoch, seq and the log's
 * tail; while the store cannot write a webhook is refused with StoreUnavailableError, and the
 * engine recovers by itself. Engines run on virtual time, so polls run only when a test
 * advances the clock.
 *
 * @example
 * describeStoreContract({ name: 'embedded (FileStore)', create: async () => fileStoreInTempDir() });
 */
export function describeStoreContract(subject: StoreSubject): void {
  describe.skipIf(subject.skip !== undefined)(`the engine on ${subject.name} (store contract)`, () => {
    const engines: Engine[] = [];
    const stores: StoreUnderTest[] = [];
    const dirs: string[] = [];
    if (subject.beforeAll !== undefined) beforeAll(subject.beforeAll, 30_000);
    if (subject.afterAll !== undefined) afterAll(subject.afterAll);
    afterEach(async () => {
      await Promise.all(engines.splice(0).map((engine) => engine.close()));
      await Promise.all(stores.splice(0).map((store) => store.dispose()));
      await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    });

    /** A fresh store and an engine on it, with the fake provider, on virtual time. */
    async function setup(options: { retainMs?: number; pollIntervalMs?: number } = {}) {
      const store = await subject.create();
      stores.push(store);
      const provider = new FakeProvider(options.pollIntervalMs === undefined ? {} : { pollPolicy: { intervalMs: options.pollIntervalMs } });
      const clock = new VirtualClock();
      const resultsDir = await mkdtemp(join(tmpdir(), 'jobstream-contract-results-'));
      dirs.push(resultsDir);
      /** An engine on `target` (this store, or what a crash left of it), retention as `retainMs` says. */
      const openOn = async (target: StoreUnderTest, retainMs = options.retainMs): Promise<{ engine: Engine; changes: JobChange[] }> => {
        if (target !== store) stores.push(target);
        const engine = await target.open({
          providers: [provider],
          scheduler: clock,
          random: () => 0.5,
          webhookUrl: hookUrl,
          resultsDir,
          ...(retainMs === undefined ? {} : { retainMs }),
        });
        engines.push(engine);
        const changes: JobChange[] = [];
        engine.changes$().subscribe((change) => changes.push(change));
        return { engine, changes };
      };
      const open = () => openOn(store);
      const close = async (engine: Engine): Promise<void> => {
        engines.splice(engines.indexOf(engine), 1);
        await engine.close();
      };
      const { engine, changes } = await open();
      const hook = (target: Engine, n: number, body: object) =>
        target.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[n]?.webhookUrl), body });
      return { store, provider, clock, engine, changes, open, openOn, close, hook, resultsDir };
    }

    it('publishes a submission as two versions with the log\'s epoch and consecutive seqs', async () => {
      const { engine, changes } = await setup();
      const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      expect(job).toMatchObject({ status: 'queued', externalId: 'ext-1', version: 2 });
      expect(engine.get(job.id)).toEqual(job);
      expect(changes.map((c) => [c.epoch, c.seq, c.job.version, c.previousStatus])).toEqual([
        [engine.epoch, 1, 1, null],
        [engine.epoch, 2, 2, 'queued'],
      ]);
      expect(engine.seq).toBe(2);
      expect(engine.health).toEqual({ status: 'ok' });
    });

    it('folds webhooks and polls of one job into versions, in order, each published once', async () => {
      const { engine, changes, provider, clock, hook } = await setup();
      const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.3 })).toMatchObject({ outcome: 'applied', job: { version: 3, status: 'running' } });
      provider.set('ext-1', 'DONE', { result: 'r' });
      const done = firstValueFrom(engine.job$(job.id).pipe(filter((j) => j.status === 'succeeded')));
      await clock.until(() => engine.get(job.id)?.status === 'succeeded');
      expect(await done).toMatchObject({ version: 4, source: 'poll', result: 'r' });
      expect(changes.map((c) => [c.seq, c.job.version, c.job.status, c.job.source])).toEqual([
        [1, 1, 'queued', 'submit'],
        [2, 2, 'queued', 'submit'],
        [3, 3, 'running', 'webhook'],
        [4, 4, 'succeeded', 'poll'],
      ]);
      // Settled: further polls of a finished job make nothing new.
      await clock.advance(100);
      expect(engine.seq).toBe(4);
    });

    it('makes no new version for a repeated, a late or an out-of-order webhook', async () => {
      const { engine, changes, hook } = await setup();
      const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.5 })).toMatchObject({ outcome: 'applied', job: { version: 3 } });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.5 })).toMatchObject({ outcome: 'duplicate', job: { version: 3 } });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'WAITING' })).toMatchObject({ outcome: 'duplicate', job: { version: 3, status: 'running' } });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'DONE', result: 'r' })).toMatchObject({ outcome: 'applied', job: { version: 4, status: 'succeeded' } });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.9 })).toMatchObject({ outcome: 'duplicate', job: { version: 4, status: 'succeeded' } });
      expect(await hook(engine, 0, { id: 'ext-1', status: 'DONE', result: 'r' })).toMatchObject({ outcome: 'duplicate', job: { version: 4 } });
      expect(changes.map((c) => [c.seq, c.job.version])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
      ]);
      expect(engine.get(job.id)).toMatchObject({ version: 4, status: 'succeeded', result: 'r' });
    });

    it('gives a subscriber that left exactly the changes it missed, and nothing for another epoch', async () => {
      const { engine, changes } = await setup();
      const a = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      const left = engine.seq;
      const b = await engine.submit({ provider: 'fake', kind: 'separation', input });
      await engine.cancel(a.id);
      const missed = changes.filter((c) => c.seq > left);
      expect(missed.map((c) => [c.job.id, c.job.version])).toEqual([
        [b.id, 1],
        [b.id, 2],
        [a.id, 3],
      ]);
      expect(wire(engine.changesSince(engine.epoch, left)!)).toEqual(wire(missed));
      expect(wire(engine.changesSince(engine.epoch, 0)!)).toEqual(wire(changes));
      expect(engine.changesSince(engine.epoch, engine.seq)).toEqual([]);
      expect(engine.changesSince(engine.epoch, left, { kinds: ['separation'] })!.map((c) => c.job.id)).toEqual([b.id, b.id]);
      expect(engine.changesSince('another-epoch', left)).toBeUndefined();
      // Resume by state: the jobs that changed after `left`, whatever the log still keeps.
      expect(engine.newerThan({ epoch: engine.epoch, seq: left })!.jobs.map((j) => [j.id, j.version]).sort()).toEqual(
        [
          [a.id, 3],
          [b.id, 2],
        ].sort(),
      );
    });

    it('keeps each job\'s history: its versions in order, with their seqs', async () => {
      const { engine, hook } = await setup();
      const a = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      const b = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.1 });
      await hook(engine, 1, { id: 'ext-2', status: 'DONE', result: 'r' });
      await hook(engine, 0, { id: 'ext-1', status: 'BROKEN' });
      expect(engine.history(a.id).map((c) => [c.seq, c.job.version, c.job.status, c.previousStatus])).toEqual([
        [1, 1, 'queued', null],
        [2, 2, 'queued', 'queued'],
        [5, 3, 'running', 'queued'],
        [7, 4, 'failed', 'running'],
      ]);
      expect(engine.history(b.id).map((c) => [c.seq, c.job.version, c.job.status])).toEqual([
        [3, 1, 'queued'],
        [4, 2, 'queued'],
        [6, 3, 'succeeded'],
      ]);
      expect(() => engine.history('job_unknown')).toThrow(UnknownJobError);
    });

    it('copies the result files of each succeeded job once, by the engine that committed the success', async () => {
      const { engine, hook, provider, resultsDir } = await setup();
      const jobs: JobSnapshot[] = [];
      for (let i = 0; i < 24; i++) jobs.push(await engine.submit({ provider: 'fake', kind: 'transcription', input }));
      await Promise.all(jobs.map((_, i) => hook(engine, i, { id: `ext-${i + 1}`, status: 'DONE', result: `r${i}` })));
      // The copies run in the background; each ends in a version with `artifacts: complete`.
      await expect
        .poll(() => jobs.map((job) => engine.get(job.id)?.artifacts?.state), { timeout: 10_000 })
        .toEqual(jobs.map(() => 'complete'));
      expect(provider.downloads).toBe(jobs.length);
      for (const [i, job] of jobs.entries()) {
        expect(await readFile(join(resultsDir, job.id, 'result.txt'), 'utf8')).toBe(`content of r${i}`);
        expect(engine.history(job.id).map((c) => [c.job.version, c.job.status, c.job.artifacts?.state ?? null])).toEqual([
          [1, 'queued', null],
          [2, 'queued', null],
          [3, 'succeeded', 'pending'],
          [4, 'succeeded', 'complete'],
        ]);
      }
    });

    it('keeps jobs, secrets, epoch, seq and the log\'s tail across a restart on the same store, and continues the seq', async () => {
      const { engine, changes, hook, open, close } = await setup();
      const a = await engine.submit({ provider: 'fake', kind: 'transcription', input, metadata: { n: 1 } });
      const b = await engine.submit({ provider: 'fake', kind: 'separation', input, name: 'b' });
      await hook(engine, 0, { id: 'ext-1', status: 'WORKING', progress: 0.4 });
      await engine.cancel(b.id);
      const before = { epoch: engine.epoch, seq: engine.seq, jobs: byId(engine.snapshot().jobs), history: engine.history(a.id) };
      expect(before.seq).toBe(6);
      await close(engine);

      const again = await open();
      expect(again.engine.epoch).toBe(before.epoch);
      expect(again.engine.seq).toBe(before.seq);
      expect(byId(again.engine.snapshot().jobs)).toEqual(before.jobs);
      // A client anywhere in the kept tail resumes after the restart with exactly what it missed.
      expect(wire(again.engine.changesSince(before.epoch, 0)!)).toEqual(wire(changes));
      expect(wire(again.engine.changesSince(before.epoch, 3)!)).toEqual(wire(changes.slice(3)));
      expect(wire(again.engine.history(a.id))).toEqual(wire(before.history));
      // The webhook secret survived: the job's old hook URL still works, and the seq goes on.
      expect(await hook(again.engine, 0, { id: 'ext-1', status: 'DONE', result: 'r' })).toMatchObject({ outcome: 'applied', job: { version: 4 } });
      expect(again.changes.map((c) => [c.epoch, c.seq, c.job.id, c.job.version])).toEqual([[before.epoch, before.seq + 1, a.id, 4]]);
    });

    it('refuses a webhook with StoreUnavailableError while the store cannot write, says why in health, and recovers by itself: the change is then kept and published once', async () => {
      const { store, engine, changes, hook } = await setup();
      const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      await store.break();
      // No result (so no result copy adds a version).
      const done = { id: 'ext-1', status: 'DONE' };
      await expect(hook(engine, 0, done)).rejects.toBeInstanceOf(StoreUnavailableError);
      // A redelivery repeats a state that is not durable: refused as well.
      await expect(hook(engine, 0, done)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(engine.health).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/^store: /) as unknown });
      expect(engine.get(job.id)).toMatchObject({ version: 2, status: 'queued' });
      expect(changes.map((c) => c.seq)).toEqual([1, 2]);

      const published = firstValueFrom(engine.changes$().pipe(filter((c) => c.job.status === 'succeeded')));
      await store.repair();
      expect((await published).seq).toBe(3);
      await expect.poll(() => engine.health, { timeout: 10_000 }).toEqual({ status: 'ok' });
      expect(await hook(engine, 0, done)).toMatchObject({ outcome: 'duplicate', job: { version: 3, status: 'succeeded' } });
      expect(changes.map((c) => [c.seq, c.job.version, c.job.status])).toEqual([
        [1, 1, 'queued'],
        [2, 2, 'queued'],
        [3, 3, 'succeeded'],
      ]);
      // And the engine writes as before.
      const next = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      expect(next.version).toBe(2);
      expect(engine.seq).toBe(5);
    }, 30_000);

    it('retention removes the finished, settled jobs older than the period with their result copies (a running and a recent one stay), durably: a kill -9 right after leaves them gone, and resumes from before it go by state', async () => {
      const { store, engine, hook, clock, openOn, resultsDir } = await setup({ retainMs: RETAIN_MS, pollIntervalMs: 10_000 });
      const old = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      const failed = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      const running = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      await hook(engine, 0, { id: 'ext-1', status: 'DONE', result: 'r' });
      await hook(engine, 1, { id: 'ext-2', status: 'BROKEN' });
      await hook(engine, 2, { id: 'ext-3', status: 'WORKING', progress: 0.5 });
      await expect.poll(() => engine.get(old.id)?.artifacts?.state, { timeout: 10_000 }).toBe('complete');
      expect(await readFile(join(resultsDir, old.id, 'result.txt'), 'utf8')).toBe('content of r');
      await clock.advance(RETAIN_MS + 1);
      const recent = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      await hook(engine, 3, { id: 'ext-4', status: 'BROKEN' });
      const held = Object.fromEntries(engine.snapshot().jobs.map((job) => [job.id, job.version]));
      const point = { epoch: engine.epoch, seq: engine.seq };

      const { removed } = await engine.sweepRetention();
      expect([...removed].sort()).toEqual([old.id, failed.id].sort());
      expect(engine.get(old.id)).toBeUndefined();
      expect(engine.get(failed.id)).toBeUndefined();
      expect(engine.get(running.id)?.status).toBe('running');
      expect(engine.get(recent.id)?.status).toBe('failed');
      expect(() => engine.history(old.id)).toThrow(UnknownJobError);
      expect(engine.snapshot().jobs.map((job) => job.id).sort()).toEqual([running.id, recent.id].sort());
      await expect(stat(join(resultsDir, old.id))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(engine.retention).toEqual({
        retainDays: RETAIN_MS / DAY_MS,
        lastSweepAt: clock.now(),
        removedTotal: 2,
        oldestKeptFinishedAt: engine.get(recent.id)!.updatedAt,
      });
      // A reader from before the removal may hold the removed jobs: it resumes by state and hears they are gone.
      expect(engine.changesSince(point.epoch, point.seq)).toBeUndefined();
      expect(engine.newerThan({ ...point, versions: held })).toMatchObject({ jobs: [], gone: [old.id, failed.id] });
      // So does one at the removal's seq; a reader after it is served from the log as before, and the seq goes on.
      expect(engine.changesSince(point.epoch, engine.seq)).toBeUndefined();
      await hook(engine, 2, { id: 'ext-3', status: 'WORKING', progress: 0.9 });
      const later = engine.seq;
      expect(later).toBe(point.seq + 1);
      await hook(engine, 2, { id: 'ext-3', status: 'DONE' });
      expect(engine.changesSince(engine.epoch, later)!.map((c) => [c.seq, c.job.id])).toEqual([[later + 1, running.id]]);
      expect((await engine.sweepRetention()).removed).toEqual([]);

      // kill -9 now: the removal was acknowledged, so it stays.
      const crashed = await openOn(await store.afterCrash());
      expect(crashed.engine.epoch).toBe(point.epoch);
      expect(crashed.engine.seq).toBe(engine.seq);
      expect(crashed.engine.snapshot().jobs.map((job) => job.id).sort()).toEqual([running.id, recent.id].sort());
      expect(crashed.engine.changesSince(point.epoch, point.seq)).toBeUndefined();
      expect(crashed.engine.newerThan({ ...point, versions: held })!.gone).toEqual([old.id, failed.id]);
      expect(crashed.engine.changesSince(point.epoch, later)!.map((c) => c.job.id)).toEqual([running.id]);
    }, 30_000);

    it('retention never half removes: a removal the store cannot write removes nothing (a kill -9 then keeps every job), and a later sweep removes them all', async () => {
      const { store, engine, hook, clock, openOn } = await setup({ retainMs: RETAIN_MS, pollIntervalMs: 10_000 });
      const a = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      const b = await engine.submit({ provider: 'fake', kind: 'transcription', input });
      await hook(engine, 0, { id: 'ext-1', status: 'DONE' });
      await hook(engine, 1, { id: 'ext-2', status: 'BROKEN' });
      await clock.advance(RETAIN_MS + 1);
      const point = { epoch: engine.epoch, seq: engine.seq };
      await store.break();
      await expect(engine.sweepRetention()).rejects.toThrow();
      expect(engine.get(a.id)?.status).toBe('succeeded');
      expect(engine.get(b.id)?.status).toBe('failed');
      expect(engine.changesSince(point.epoch, 0)?.length).toBe(point.seq);
      await store.repair();

      // kill -9 before any removal record: every job is still there (opened without retention, which would sweep at start).
      const crashed = await openOn(await store.afterCrash(), undefined);
      expect(crashed.engine.snapshot().jobs.map((job) => job.id).sort()).toEqual([a.id, b.id].sort());
      await crashed.engine.close();

      await expect.poll(() => engine.health, { timeout: 10_000 }).toEqual({ status: 'ok' });
      expect([...(await engine.sweepRetention()).removed].sort()).toEqual([a.id, b.id].sort());
      expect(engine.snapshot().jobs).toEqual([]);
    }, 30_000);
  });
}

const RETAIN_MS = 60_000;
const DAY_MS = 86_400_000;

function byId(jobs: readonly JobSnapshot[]): JobSnapshot[] {
  return [...jobs].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

