import { cp, mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobChange } from '../../src/streams/job-change.js';
import { FileStore } from '../../src/streams/file-store.js';
import { reduce } from '../../src/streams/job-reducer.js';
import type { JobStore, StoredJob } from '../../src/streams/job-store.js';
import { JobTable, type JobEntry } from '../../src/streams/job-table.js';
import { LOG_EPOCH_FILE } from '../../src/streams/log-epoch.js';

const T0 = Date.parse('2026-12-06T10:00:00Z');
const newJob = () => ({ provider: 'klangio', kind: 'transcription', externalId: null, name: null, metadata: {}, options: {} });

let dirs: string[] = [];
const tables: JobTable[] = [];
beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  for (const t of tables.splice(0)) await t.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/**
 * What a kill -9 leaves: the directory as it is while its store is open (no LOCK copied). A
 * compaction may remove a file while it is copied (ENOENT): then the copy is made again, as a
 * crash a moment later would leave it.
 */
async function copyOpenDir(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await cp(from, to, { recursive: true, force: true, filter: (source) => !source.endsWith('LOCK') });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 20) throw error;
      await rm(to, { recursive: true, force: true });
    }
  }
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jobstream-log-'));
  dirs.push(dir);
  return dir;
}

async function openTable(store: JobStore, changeLogSize = 100): Promise<{ table: JobTable; changes: JobChange[] }> {
  const table = new JobTable({ store, changeLogSize, onPublished: () => undefined, onStoreError: () => undefined });
  tables.push(table);
  await table.load();
  const changes: JobChange[] = [];
  table.changes$().subscribe((change) => changes.push(change));
  return { table, changes };
}

function step(table: JobTable, entry: JobEntry, progress: number): void {
  table.commit(entry, reduce(entry.current, { source: 'poll', observedAt: entry.current.updatedAt + 1, status: 'running', progress }));
}

/** Three jobs with a few versions each, all durable. */
async function someChanges(table: JobTable): Promise<JobEntry[]> {
  const entries = [table.create(newJob(), T0), table.create(newJob(), T0 + 1), table.create(newJob(), T0 + 2)];
  await table.flush();
  for (let i = 1; i <= 3; i++) {
    for (const entry of entries) step(table, entry, i / 10);
    await table.flush();
  }
  return entries;
}

async function close(table: JobTable): Promise<void> {
  tables.splice(tables.indexOf(table), 1);
  await table.close();
}

describe('the change log across restarts (FileStore)', () => {
  it('keeps the epoch and continues seq after close and reopen (was: a new epoch and seq from 1 at every start)', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir }));
    const entries = await someChanges(first.table);
    const { epoch, seq } = first.table;
    expect(seq).toBe(12);
    expect(first.changes.map((c) => c.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    await close(first.table);
    expect(JSON.parse(await readFile(join(dir, LOG_EPOCH_FILE), 'utf8'))).toEqual({ format: 1, epoch });

    const second = await openTable(await FileStore.open({ dir }));
    expect(second.table.epoch).toBe(epoch);
    expect(second.table.seq).toBe(seq);
    // The tail was kept: a client anywhere in it resumes with exactly what it missed.
    expect(second.table.changesSince(epoch, seq)).toEqual([]);
    expect(second.table.changesSince(epoch, 0)).toEqual(first.changes);
    const entry = second.table.entry(entries[1]!.current.id)!;
    step(second.table, entry, 0.9);
    await second.table.flush();
    expect(second.changes.map((c) => [c.epoch, c.seq])).toEqual([[epoch, seq + 1]]);
    expect(second.table.changesSince(epoch, seq)?.map((c) => c.job.id)).toEqual([entry.current.id]);
  });

  it('keeps the epoch and continues seq after a crash (a journal without the clean-shutdown record)', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir }));
    await someChanges(first.table);
    const { epoch, seq } = first.table;
    // What a kill -9 leaves: the directory as it is while the store is open (no clean-shutdown record).
    const crashed = await tempDir();
    await copyOpenDir(dir, crashed);
    await expect(readFile(join(crashed, 'clean-shutdown.json'))).rejects.toMatchObject({ code: 'ENOENT' });

    const second = await openTable(await FileStore.open({ dir: crashed }));
    expect(second.table.epoch).toBe(epoch);
    expect(second.table.seq).toBe(seq);
    second.table.create(newJob(), T0 + 10);
    await second.table.flush();
    expect(second.changes.map((c) => [c.epoch, c.seq])).toEqual([[epoch, seq + 1]]);
  });

  it('continues seq after compactions (the snapshot keeps each job\'s seq)', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir, compactMinBytes: 1 }));
    await someChanges(first.table);
    const { epoch, seq } = first.table;
    await close(first.table);
    const snapshot = JSON.parse(await readFile(join(dir, 'jobs.json'), 'utf8')) as { generation: number; jobs: { seq?: number }[] };
    expect(snapshot.generation).toBeGreaterThan(0);
    expect(Math.max(...snapshot.jobs.map((j) => j.seq ?? 0))).toBeGreaterThan(0);

    const second = await openTable(await FileStore.open({ dir, compactMinBytes: 1 }));
    expect([second.table.epoch, second.table.seq]).toEqual([epoch, seq]);
  });

  it('mints an epoch for a store written before epochs were kept, and keeps that one', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir }));
    await someChanges(first.table);
    const { epoch } = first.table;
    await close(first.table);
    await unlink(join(dir, LOG_EPOCH_FILE));

    const second = await openTable(await FileStore.open({ dir }));
    const minted = second.table.epoch;
    expect(minted).not.toBe(epoch);
    expect(second.table.seq).toBe(12);
    await close(second.table);
    const third = await openTable(await FileStore.open({ dir }));
    expect(third.table.epoch).toBe(minted);
  });

  it('refuses a damaged epoch record, naming the file, rather than starting a new log', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir }));
    await close(first.table);
    await (await import('node:fs/promises')).writeFile(join(dir, LOG_EPOCH_FILE), '{"format":1,');
    const store = await FileStore.open({ dir });
    await expect(store.load()).rejects.toThrow(LOG_EPOCH_FILE);
  });
});

describe("the change log's tail across restarts (FileStore, issue #12)", () => {
  /** What a subscriber compares: everything of a change but object identity. */
  const wire = (changes: readonly JobChange[] | undefined) => changes?.map((c) => JSON.parse(JSON.stringify(c)) as unknown);

  /** How the first process ends: closed cleanly, or killed (its directory as it was while open). */
  async function restartAfter(how: 'close' | 'crash', dir: string, table: JobTable): Promise<string> {
    if (how === 'close') {
      await close(table);
      return dir;
    }
    const crashed = await tempDir();
    await copyOpenDir(dir, crashed);
    return crashed;
  }

  for (const how of ['close', 'crash'] as const) {
    for (const compactMinBytes of [1024 * 1024, 1]) {
      const compacting = compactMinBytes === 1 ? ', compacting after every batch' : '';
      it(`serves every resume point in the tail with exactly the missed changes after a ${how}${compacting} (was: only a client at the very last seq)`, async () => {
        const dir = await tempDir();
        const first = await openTable(await FileStore.open({ dir, compactMinBytes }));
        const entries = await someChanges(first.table);
        const { epoch, seq } = first.table;
        const histories = entries.map((e) => wire(first.table.history(e.current.id)));
        const from = await restartAfter(how, dir, first.table);

        const second = await openTable(await FileStore.open({ dir: from, compactMinBytes }));
        expect([second.table.epoch, second.table.seq]).toEqual([epoch, seq]);
        for (let at = 0; at <= seq; at++) expect(wire(second.table.changesSince(epoch, at)), `resume at ${at}`).toEqual(wire(first.changes.slice(at)));
        // The timeline of each job (history) is the same as before the restart.
        expect(entries.map((e) => wire(second.table.history(e.current.id)))).toEqual(histories);
        // New changes continue the same log, and a third start still has all of it.
        step(second.table, second.table.entry(entries[0]!.current.id)!, 0.95);
        await second.table.flush();
        const all = [...first.changes, ...second.changes];
        await close(second.table);
        const third = await openTable(await FileStore.open({ dir: from, compactMinBytes }));
        expect(wire(third.table.changesSince(epoch, 0))).toEqual(wire(all));
      });
    }
  }

  it('keeps only the newest changeLogSize changes: an older resume point gets undefined (a snapshot), not a gap', async () => {
    const dir = await tempDir();
    const first = await openTable(await FileStore.open({ dir, keepChanges: 5, compactMinBytes: 1 }), 5);
    await someChanges(first.table);
    const { epoch } = first.table;
    await close(first.table);
    const second = await openTable(await FileStore.open({ dir, keepChanges: 5 }), 5);
    expect(second.table.changesSince(epoch, 7)?.map((c) => c.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(second.table.changesSince(epoch, 6)).toBeUndefined();
    const snapshot = JSON.parse(await readFile(join(dir, 'jobs.json'), 'utf8')) as { changeCount: number };
    expect(snapshot.changeCount).toBeLessThanOrEqual(5);
  });

  it('keeps a large result of an older version in the tail through compactions', async () => {
    const dir = await tempDir();
    const big = { notes: 'x'.repeat(64 * 1024) };
    const first = await openTable(await FileStore.open({ dir, compactMinBytes: 1, inlineResultMaxBytes: 1024 }));
    const a = first.table.create(newJob(), T0);
    first.table.commit(a, reduce(a.current, { source: 'poll', observedAt: T0 + 1, status: 'running', result: big }));
    first.table.commit(a, reduce(a.current, { source: 'poll', observedAt: T0 + 2, status: 'running', result: { notes: 'replaced' } }));
    await first.table.flush();
    step(first.table, a, 0.5);
    await first.table.flush();
    const before = wire(first.table.history(a.current.id));
    await close(first.table);
    const second = await openTable(await FileStore.open({ dir, compactMinBytes: 1, inlineResultMaxBytes: 1024 }));
    expect(wire(second.table.history(a.current.id))).toEqual(before);
    expect(second.table.history(a.current.id)[1]?.job.result).toEqual(big);
  });
});

/** A store whose first `failures` appends fail; records every attempt. */
class FlakyStore implements JobStore {
  readonly wantsCompaction = false;
  readonly epoch = 'flaky';
  readonly attempts: StoredJob[][] = [];
  constructor(private failures: number) {}
  load(): Promise<StoredJob[]> {
    return Promise.resolve([]);
  }
  append(batch: readonly StoredJob[]): Promise<void> {
    this.attempts.push([...batch]);
    if (this.failures-- > 0) return Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
    return Promise.resolve();
  }
  compact(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('seq assignment and the group commit', () => {
  it('writes each change with the seq it is published with, and a retried batch keeps its seqs (no renumbering, no gap)', async () => {
    const store = new FlakyStore(2);
    const { table, changes } = await openTable(store);
    const a = table.create(newJob(), T0);
    const b = table.create(newJob(), T0 + 1);
    await a.pending?.catch(() => undefined);
    // Queued behind the failing batch: numbered after it.
    step(table, a, 0.5);
    await table.flush();
    expect(changes.map((c) => c.seq)).toEqual([1, 2, 3]);
    const [first, second, third] = store.attempts;
    expect(first!.map((s) => [s.job.id, s.seq])).toEqual([
      [a.current.id, 1],
      [b.current.id, 2],
    ]);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(store.attempts.at(-1)!.map((s) => [s.job.id, s.job.version, s.seq])).toEqual([[a.current.id, 2, 3]]);
    for (const change of changes) {
      const written = store.attempts.flat().find((s) => s.job.id === change.job.id && s.job.version === change.job.version);
      expect(written?.seq).toBe(change.seq);
    }
  });

  it('a batch with several versions of one job writes each of them with its own seq', async () => {
    const store = new FlakyStore(0);
    const { table, changes } = await openTable(store);
    const a = table.create(newJob(), T0);
    step(table, a, 0.2);
    step(table, a, 0.3);
    await table.flush();
    expect(changes.map((c) => [c.seq, c.job.version])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(store.attempts.flat().map((s) => [s.job.version, s.seq])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });
});
