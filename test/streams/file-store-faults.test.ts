import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore, type JournalFile } from '../../src/streams/file-store.js';
import { SNAPSHOT_FORMAT, SnapshotFile } from '../../src/streams/snapshot-file.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { StoredJob } from '../../src/streams/job-store.js';

/**
 * Faults a real file system does not give on demand: the next `write` takes only `bytes` bytes
 * or fails, the next `datasync` or `truncate` fails. Each fault is used once, in order.
 */
type Fault = { on: 'write'; bytes: number } | { on: 'write' | 'datasync' | 'truncate'; error: Error };

const errno = (code: string, text: string): Error => Object.assign(new Error(`${code}: ${text}, write`), { code });

function faultyJournal(faults: Fault[]): (path: string) => Promise<JournalFile> {
  const next = (on: Fault['on']): Fault | undefined => {
    const index = faults.findIndex((fault) => fault.on === on);
    return index < 0 ? undefined : faults.splice(index, 1)[0];
  };
  return async (path) => {
    const handle = await open(path, 'a');
    return {
      write: async (buffer, offset, length) => {
        const fault = next('write');
        if (fault !== undefined && 'error' in fault) throw fault.error;
        return handle.write(buffer, offset, fault === undefined ? length : Math.min(length, fault.bytes));
      },
      datasync: async () => {
        const fault = next('datasync');
        if (fault !== undefined && 'error' in fault) throw fault.error;
        return handle.datasync();
      },
      truncate: async (length) => {
        const fault = next('truncate');
        if (fault !== undefined && 'error' in fault) throw fault.error;
        return handle.truncate(length);
      },
      stat: () => handle.stat(),
      close: () => handle.close(),
    };
  };
}

let dir: string;
const stores: FileStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-faults-'));
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function storeWith(faults: Fault[] = []): Promise<FileStore> {
  const store = await FileStore.open({ dir, openJournal: faultyJournal(faults) });
  stores.push(store);
  await store.load();
  return store;
}

/** Closes the store, opens the directory again and loads it, as the next start would. */
async function reload(store: FileStore): Promise<string[]> {
  await store.close();
  const again = await FileStore.open({ dir });
  stores.push(again);
  return (await again.load()).map((s) => s.job.id).sort();
}

function stored(id: string): StoredJob {
  // A line of a few hundred bytes, so that a short write cuts it in the middle.
  const job = createSnapshot({ id, provider: 'fake', kind: 'transcription', externalId: `ext-${id}`, name: null, metadata: { note: 'x'.repeat(200) }, options: {}, createdAt: 1 });
  return { job, secret: 'abcdefghijklmnopqrstuv' };
}

/** Every journal line, parsed; fails on a partial line or a file that does not end in one. */
async function journalLines(): Promise<string[]> {
  const ids: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.startsWith('journal-')).sort()) {
    const text = await readFile(join(dir, file), 'utf8');
    expect(text.endsWith('\n') || text === '').toBe(true);
    for (const line of text.split('\n').slice(0, -1)) ids.push((JSON.parse(line) as StoredJob).job.id);
  }
  return ids;
}

async function journalSize(): Promise<number> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('journal-'));
  let size = 0;
  for (const file of files) size += (await stat(join(dir, file))).size;
  return size;
}

describe('FileStore journal appends under faults', () => {
  it('full disk: a short write (the disk takes 10 bytes, then 7) is continued until the batch is whole, not acknowledged half-written', async () => {
    const store = await storeWith([
      { on: 'write', bytes: 10 },
      { on: 'write', bytes: 7 },
    ]);
    await store.append([stored('a'), stored('b')]);
    expect(await journalLines()).toEqual(['a', 'b']);
    expect(await reload(store)).toEqual(['a', 'b']);
  });

  it('full disk: ENOSPC after a short write cuts the journal back, so the retried batch leaves no invalid line (reproduces "line 16 is not valid JSON")', async () => {
    const store = await storeWith();
    await store.append([stored('a')]);
    const before = await journalSize();

    const faults: Fault[] = [
      { on: 'write', bytes: 20 },
      { on: 'write', error: errno('ENOSPC', 'no space left on device') },
    ];
    const faulty = await storeWithFaultsAfterReopen(store, faults);
    await expect(faulty.append([stored('b'), stored('c')])).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await journalSize()).toBe(before);

    // The group commit retries the same batch once space is back.
    await faulty.append([stored('b'), stored('c')]);
    expect(await journalLines()).toEqual(['a', 'b', 'c']);
    expect(await reload(faulty)).toEqual(['a', 'b', 'c']);
  });

  it('a failed datasync (EIO) cuts the batch back, so the retry writes each line once', async () => {
    const store = await storeWith([{ on: 'datasync', error: errno('EIO', 'i/o error') }]);
    await expect(store.append([stored('a')])).rejects.toMatchObject({ code: 'EIO' });
    expect(await journalSize()).toBe(0);
    await store.append([stored('a')]);
    expect(await journalLines()).toEqual(['a']);
    expect(await reload(store)).toEqual(['a']);
  });

  it('full disk: when cutting back fails too (EIO on truncate), the next append cuts back first and leaves whole lines only', async () => {
    const store = await storeWith([
      { on: 'write', bytes: 30 },
      { on: 'write', error: errno('ENOSPC', 'no space left on device') },
      { on: 'truncate', error: errno('EIO', 'i/o error') },
    ]);
    await expect(store.append([stored('a'), stored('b')])).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await journalSize()).toBe(30);
    await store.append([stored('a'), stored('b')]);
    expect(await journalLines()).toEqual(['a', 'b']);
    expect(await reload(store)).toEqual(['a', 'b']);
  });
});

/** The same directory, reopened with faults for its next appends. */
async function storeWithFaultsAfterReopen(store: FileStore, faults: Fault[]): Promise<FileStore> {
  await store.close();
  return storeWith(faults);
}

describe('SnapshotFile writes under faults', () => {
  it('full disk: short writes of the snapshot are continued, so the file renamed into place is whole (the count was ignored: a hole went into place)', async () => {
    const jobs = Array.from({ length: 300 }, (_, i) => stored(`j${i}`));
    let shortWrites = 0;
    const file = new SnapshotFile(join(dir, 'jobs.json'), {
      openForWrite: async (path) => {
        const handle = await open(path, 'w', 0o600);
        return {
          // The disk takes at most 1,000 bytes of every write, as a nearly full one may.
          write: async (buffer, offset, length) => {
            if (length > 1000) shortWrites += 1;
            return handle.write(buffer, offset, Math.min(length, 1000));
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        };
      },
    });
    await file.write({ format: SNAPSHOT_FORMAT, generation: 3, jobs, changes: [jobs[0]!] });
    expect(shortWrites).toBeGreaterThan(10);
    const read = await new SnapshotFile(join(dir, 'jobs.json')).read();
    expect(read?.jobs.map((s) => s.job.id)).toEqual(jobs.map((s) => s.job.id));
    expect(read?.changes?.map((s) => s.job.id)).toEqual(['j0']);
    expect(read?.generation).toBe(3);
  });

  it('a write that makes no progress fails the snapshot rather than spinning or renaming it into place', async () => {
    const file = new SnapshotFile(join(dir, 'jobs.json'), {
      openForWrite: async (path) => {
        const handle = await open(path, 'w', 0o600);
        return { write: () => Promise.resolve({ bytesWritten: 0 }), sync: () => handle.sync(), close: () => handle.close() };
      },
    });
    await expect(file.write({ format: SNAPSHOT_FORMAT, generation: 1, jobs: [stored('a')], changes: [] })).rejects.toMatchObject({ code: 'STORE_WRITE_STALLED' });
    expect(await readdir(dir)).not.toContain('jobs.json');
  });
});
