import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineClosedError, UnknownJobError } from '../../src/streams/errors.js';
import type { JobChange } from '../../src/streams/job-change.js';
import { reduce } from '../../src/streams/job-reducer.js';
import type { JobSnapshot, Observation } from '../../src/streams/job-snapshot.js';
import type { JobStore, StoredJob } from '../../src/streams/job-store.js';
import { JobTable, type JobEntry } from '../../src/streams/job-table.js';

/**
 * A store whose writes wait until the test lets them through (`hold`), so the time between
 * "folded into current" and "durable, published" can be looked at. Records every batch.
 */
class GatedStore implements JobStore {
  readonly batches: StoredJob[][] = [];
  readonly wantsCompaction = false;
  stored: StoredJob[] = [];
  #held: (() => void)[] | undefined;
  /** Resolves when the next append arrives (and is held, if holding). */
  #arrived: (() => void) | undefined;

  /** From now on, appends wait for {@link release}. */
  hold(): void {
    this.#held ??= [];
  }

  /** Lets every held append through and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const resolve of held) resolve();
  }

  /** Settles when an append has arrived. */
  nextAppend(): Promise<void> {
    return new Promise((resolve) => (this.#arrived = resolve));
  }

  load(): Promise<StoredJob[]> {
    return Promise.resolve(this.stored);
  }

  append(batch: readonly StoredJob[]): Promise<void> {
    this.batches.push([...batch]);
    const arrived = this.#arrived;
    this.#arrived = undefined;
    arrived?.();
    if (this.#held === undefined) return Promise.resolve();
    const held = this.#held;
    return new Promise((resolve) => held.push(resolve));
  }

  compact(): Promise<void> {
    return Promise.resolve();
  }

  closed = 0;
  close(): Promise<void> {
    this.closed += 1;
    return Promise.resolve();
  }
}

const T0 = Date.parse('2026-11-24T10:00:00Z');
const open: JobTable[] = [];
afterEach(async () => {
  for (const table of open.splice(0)) await table.close();
});

function table(options: { store?: GatedStore; changeLogSize?: number } = {}) {
  const store = options.store ?? new GatedStore();
  const published: { id: string; version: number; previousVersion: number | undefined }[] = [];
  const t = new JobTable({
    store,
    epoch: 'epoch-1',
    changeLogSize: options.changeLogSize ?? 100,
    onPublished: (job, previous) => published.push({ id: job.id, version: job.version, previousVersion: previous?.version }),
    onStoreError: (error) => {
      throw error;
    },
  });
  open.push(t);
  return { table: t, store, published };
}

const newJob = (provider = 'klangio', kind = 'transcription') => ({ provider, kind, externalId: null, name: null, metadata: {}, options: {} });

/** Folds an observation into the entry's current state through the reducer and commits it. */
function observe(t: JobTable, entry: JobEntry, observation: Partial<Observation> & Pick<Observation, 'status'>): JobSnapshot {
  const next = reduce(entry.current, { source: 'poll', observedAt: entry.current.updatedAt + 1, ...observation });
  expect(next).not.toBe(entry.current);
  t.commit(entry, next);
  return next;
}

/** Collects every change published from now on. */
function record(t: JobTable, filter?: Parameters<JobTable['changes$']>[0]): JobChange[] {
  const seen: JobChange[] = [];
  t.changes$(filter).subscribe((change) => seen.push(change));
  return seen;
}

describe('JobTable', () => {
  describe('create, commit and publish', () => {
    it('records a new job as current at once and publishes it only once it is durable', async () => {
      const { table: t, store, published } = table();
      store.hold();
      const changes = record(t);
      const arrived = store.nextAppend();
      const entry = t.create(newJob(), T0);
      expect(entry.current).toMatchObject({ status: 'queued', version: 1, provider: 'klangio', createdAt: T0 });
      expect(entry.current.id).toMatch(/^job_/);
      expect(entry.secret.length).toBeGreaterThanOrEqual(16);
      expect(t.entry(entry.current.id)).toBe(entry);
      await arrived;
      // Written, not yet durable: nobody has been shown it.
      expect(entry.published).toBeUndefined();
      expect(t.published(entry.current.id)).toBeUndefined();
      expect(changes).toEqual([]);
      expect(published).toEqual([]);
      expect(t.seq).toBe(0);
      expect(entry.pending).toBeInstanceOf(Promise);
      store.release();
      await entry.pending;
      expect(entry.published).toBe(entry.current);
      expect(entry.pending).toBeUndefined();
      expect(changes).toEqual([{ epoch: 'epoch-1', seq: 1, job: entry.current, previousStatus: null }]);
      expect(published).toEqual([{ id: entry.current.id, version: 1, previousVersion: undefined }]);
      expect(store.batches).toEqual([[{ job: entry.current, secret: entry.secret, seq: 1, previousStatus: null }]]);
    });

    it('keeps published behind current while a write is in flight', async () => {
      const { table: t, store } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      store.hold();
      const arrived = store.nextAppend();
      const running = observe(t, entry, { status: 'running', progress: 0.2 });
      await arrived;
      expect(entry.current).toBe(running);
      expect(entry.published?.version).toBe(1);
      expect(t.published(running.id)?.status).toBe('queued');
      expect(t.snapshot().jobs.map((job) => job.status)).toEqual(['queued']);
      store.release();
      await t.flush();
      expect(t.published(running.id)).toBe(running);
      expect(t.snapshot()).toEqual({ epoch: 'epoch-1', seq: 2, jobs: [running] });
    });

    it('writes and publishes every version, in order, with consecutive seqs (each is a change a restart must keep)', async () => {
      const { table: t, store, published } = table();
      const changes = record(t);
      const a = t.create(newJob(), T0);
      const b = t.create(newJob('musicai'), T0 + 1);
      await t.flush();
      store.hold();
      // The first write holds the line; everything after it joins one batch.
      observe(t, a, { status: 'running' });
      await store.nextAppend();
      observe(t, b, { status: 'running' });
      observe(t, a, { status: 'running', progress: 0.5 });
      const done = observe(t, a, { status: 'succeeded' });
      store.release();
      await t.flush();
      expect(changes.map((c) => [c.seq, c.job.id, c.job.version, c.previousStatus])).toEqual([
        [1, a.current.id, 1, null],
        [2, b.current.id, 1, null],
        [3, a.current.id, 2, 'queued'],
        [4, b.current.id, 2, 'queued'],
        [5, a.current.id, 3, 'running'],
        [6, a.current.id, 4, 'running'],
      ]);
      expect(published.map((p) => `${p.id === a.current.id ? 'a' : 'b'}${p.previousVersion ?? '-'}>${p.version}`)).toEqual(['a->1', 'b->1', 'a1>2', 'b1>2', 'a2>3', 'a3>4']);
      // Every version is written with its seq and previous status, also several of one job in a batch.
      const last = store.batches.at(-1) ?? [];
      expect(last.map((s) => [s.job.id, s.job.version, s.seq, s.previousStatus])).toEqual([
        [b.current.id, 2, 4, 'queued'],
        [a.current.id, 3, 5, 'running'],
        [a.current.id, 4, 6, 'running'],
      ]);
      expect(a.published).toBe(done);
      expect(t.seq).toBe(6);
    });

    it('resolves durable() once the current state is published, and at once when it already is', async () => {
      const { table: t, store } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      await t.durable(entry);
      store.hold();
      const running = observe(t, entry, { status: 'running' });
      let durable = false;
      const waiting = t.durable(entry).then(() => (durable = true));
      await store.nextAppend();
      expect(durable).toBe(false);
      store.release();
      await waiting;
      expect(entry.published).toBe(running);
    });
  });

  describe('load and the external-id index', () => {
    it('makes stored jobs current and published at once, and finds them by provider id', async () => {
      const store = new GatedStore();
      const source = table();
      const entry = source.table.create({ ...newJob(), externalId: 'kl-42' }, T0);
      await source.table.flush();
      store.stored = [{ job: entry.current, secret: entry.secret }];
      const { table: t } = table({ store });
      await t.load();
      const loaded = t.entry(entry.current.id);
      expect(loaded?.current).toEqual(entry.current);
      expect(loaded?.published).toBe(loaded?.current);
      expect(loaded?.secret).toBe(entry.secret);
      expect(t.byExternalId('klangio', 'kl-42')).toBe(loaded);
      expect(t.byExternalId('musicai', 'kl-42')).toBeUndefined();
      t.index('musicai', 'mu-1', entry.current.id);
      expect(t.byExternalId('musicai', 'mu-1')).toBe(loaded);
    });
  });

  describe('job$', () => {
    it('is one shared view per job: a later subscriber gets the current snapshot, then both see each version', async () => {
      const { table: t } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      const id = entry.current.id;
      expect(t.job$(id)).toBe(t.job$(id));
      const first: number[] = [];
      const second: number[] = [];
      const one = t.job$(id).subscribe((job) => first.push(job.version));
      observe(t, entry, { status: 'running' });
      await t.flush();
      const two = t.job$(id).subscribe((job) => second.push(job.version));
      observe(t, entry, { status: 'running', progress: 0.7 });
      await t.flush();
      expect(first).toEqual([1, 2, 3]);
      expect(second).toEqual([2, 3]);
      one.unsubscribe();
      two.unsubscribe();
    });

    it('shows only published versions and completes with the settled one', async () => {
      const { table: t, store } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      const all = lastValueFrom(t.job$(entry.current.id).pipe(toArray()));
      store.hold();
      observe(t, entry, { status: 'running' });
      await store.nextAppend();
      observe(t, entry, { status: 'failed', error: { code: 'X', message: 'no' } });
      store.release();
      await t.flush();
      const versions = (await all).map((job) => `${job.version}:${job.status}`);
      expect(versions).toEqual(['1:queued', '2:running', '3:failed']);
    });

    it('starts a settled job at its last snapshot and completes at once; a new view after completion', async () => {
      const { table: t } = table();
      const entry = t.create(newJob(), T0);
      observe(t, entry, { status: 'canceled' });
      await t.flush();
      const view = t.job$(entry.current.id);
      expect(await lastValueFrom(view.pipe(toArray()))).toEqual([entry.current]);
      // The completed view was forgotten; asking again makes a new one that still works.
      const again = t.job$(entry.current.id);
      expect(again).not.toBe(view);
      expect(await firstValueFrom(again)).toBe(entry.current);
    });

    it('fails with UnknownJobError for an unknown job and for one not yet durable', async () => {
      const { table: t, store } = table();
      await expect(firstValueFrom(t.job$('job_nope'))).rejects.toBeInstanceOf(UnknownJobError);
      store.hold();
      const arrived = store.nextAppend();
      const entry = t.create(newJob(), T0);
      await arrived;
      await expect(firstValueFrom(t.job$(entry.current.id))).rejects.toBeInstanceOf(UnknownJobError);
      store.release();
      await t.flush();
      expect((await firstValueFrom(t.job$(entry.current.id))).version).toBe(1);
    });
  });

  describe('changes$', () => {
    it('filters by provider and by status, counting a job that leaves a watched status', async () => {
      const { table: t } = table();
      const klangio = record(t, { providers: ['klangio'] });
      const running = record(t, { statuses: ['running'] });
      const a = t.create(newJob('klangio'), T0);
      const b = t.create(newJob('musicai'), T0);
      await t.flush();
      observe(t, a, { status: 'running' });
      observe(t, b, { status: 'running' });
      await t.flush();
      observe(t, b, { status: 'succeeded' });
      await t.flush();
      expect(klangio.map((c) => [c.job.provider, c.job.status])).toEqual([
        ['klangio', 'queued'],
        ['klangio', 'running'],
      ]);
      // b's move from running to succeeded is seen by the running subscriber.
      expect(running.map((c) => [c.job.provider, c.previousStatus, c.job.status])).toEqual([
        ['klangio', 'queued', 'running'],
        ['musicai', 'queued', 'running'],
        ['musicai', 'running', 'succeeded'],
      ]);
    });
  });

  describe('changesSince and history', () => {
    it('returns what was missed within the kept window, undefined outside it or for another epoch', async () => {
      const { table: t } = table({ changeLogSize: 3 });
      const a = t.create(newJob('klangio'), T0);
      const b = t.create(newJob('musicai'), T0);
      await t.flush();
      observe(t, a, { status: 'running' });
      observe(t, b, { status: 'running' });
      observe(t, a, { status: 'succeeded' });
      await t.flush();
      expect(t.seq).toBe(5);
      expect(t.changesSince('epoch-1', 3)?.map((c) => c.seq)).toEqual([4, 5]);
      expect(t.changesSince('epoch-1', 2)?.map((c) => c.seq)).toEqual([3, 4, 5]);
      expect(t.changesSince('epoch-1', 5)).toEqual([]);
      // seq 2 is no longer kept: the caller starts over from a snapshot.
      expect(t.changesSince('epoch-1', 1)).toBeUndefined();
      expect(t.changesSince('epoch-1', 6)).toBeUndefined();
      expect(t.changesSince('epoch-0', 3)).toBeUndefined();
      expect(t.changesSince('epoch-1', 2, { providers: ['musicai'] })?.map((c) => c.seq)).toEqual([4]);
    });

    it('lists the kept changes of one job and refuses an unknown one', async () => {
      const { table: t } = table({ changeLogSize: 3 });
      const a = t.create(newJob(), T0);
      const b = t.create(newJob(), T0);
      await t.flush();
      observe(t, a, { status: 'running' });
      observe(t, b, { status: 'running' });
      await t.flush();
      observe(t, a, { status: 'succeeded' });
      await t.flush();
      // Kept: seqs 3..5; a's creation (seq 1) has left the window.
      expect(t.history(a.current.id).map((c) => [c.seq, c.job.status])).toEqual([
        [3, 'running'],
        [5, 'succeeded'],
      ]);
      expect(t.history(b.current.id).map((c) => c.seq)).toEqual([4]);
      expect(() => t.history('job_nope')).toThrow(UnknownJobError);
    });
  });

  describe('list', () => {
    it('pages through published jobs newest first, filtered, with a cursor', async () => {
      const { table: t } = table();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(t.create(newJob(i % 2 === 0 ? 'klangio' : 'musicai'), T0 + i * 1000).current.id);
      await t.flush();
      const newestFirst = [...ids].reverse();
      const first = t.list(undefined, { limit: 2 });
      expect(first.jobs.map((job) => job.id)).toEqual(newestFirst.slice(0, 2));
      expect(first.next).toBe(newestFirst[1]);
      const second = t.list(undefined, { limit: 2, after: first.next! });
      expect(second.jobs.map((job) => job.id)).toEqual(newestFirst.slice(2, 4));
      const third = t.list(undefined, { limit: 2, after: second.next! });
      expect(third.jobs.map((job) => job.id)).toEqual(newestFirst.slice(4));
      expect(third.next).toBeUndefined();
      expect(t.list({ providers: ['musicai'] }).jobs.map((job) => job.id)).toEqual([ids[3], ids[1]]);
      // A limit below 1 still gives one job; past the oldest there is nothing.
      expect(t.list(undefined, { limit: 0 }).jobs).toHaveLength(1);
      expect(t.list(undefined, { after: ids[0]! })).toEqual({ jobs: [], next: undefined });
    });
  });

  describe('close', () => {
    it('errors open views, completes changes$, refuses new views and durable waits, and closes the store once', async () => {
      const { table: t, store } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      const view = lastValueFrom(t.job$(entry.current.id));
      let completed = false;
      t.changes$().subscribe({ complete: () => (completed = true) });
      const closing = t.close();
      expect(t.close()).toBe(closing);
      expect(t.closing).toBe(true);
      await closing;
      await expect(view).rejects.toBeInstanceOf(EngineClosedError);
      expect(completed).toBe(true);
      await expect(firstValueFrom(t.job$(entry.current.id))).rejects.toBeInstanceOf(EngineClosedError);
      expect(store.closed).toBe(1);
    });

    it('writes what was queued before closing, then rejects durable waits still open', async () => {
      const { table: t, store } = table();
      const entry = t.create(newJob(), T0);
      await t.flush();
      store.hold();
      const running = observe(t, entry, { status: 'running' });
      await store.nextAppend();
      const closing = t.close();
      await expect(t.durable(entry)).rejects.toBeInstanceOf(EngineClosedError);
      store.release();
      await closing;
      expect(entry.published).toBe(running);
    });
  });
});
