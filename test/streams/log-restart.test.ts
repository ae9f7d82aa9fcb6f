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
    // A client at exactly the last seq resumes; one further back is not served from an empty tail.
    expect(second.table.changesSince(epoch, seq)).toEqual([]);
    expect(second.table.changesSince(epoch, seq - 1)).toBeUndefined();
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
    await cp(dir, crashed, { recursive: true, filter: (source) => !source.endsWith('LOCK') });
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

  it('a batch with several versions of one job writes the last one with its own seq', async () => {
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
    expect(store.attempts.flat().map((s) => [s.job.version, s.seq])).toEqual([[3, 3]]);
  });
});
