import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OUTBOX_FILE, OutboxJournal } from '../../src/server/outbound/outbox-journal.js';
import { StoreCorruptError } from '../../src/streams/errors.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), 'jobstream-outbox-journal-'));
  dirs.push(made);
  return made;
}

async function read(path: string): Promise<unknown[]> {
  const records: unknown[] = [];
  const journal = await OutboxJournal.open(path, (record) => records.push(record));
  await journal.close();
  return records;
}

describe('the outbox file', () => {
  it('reads back what was appended and rewritten, drops a torn last line, and cuts it off before the next append', async () => {
    const where = await dir();
    const journal = await OutboxJournal.open(where, () => undefined);
    await journal.append([{ t: 'a', n: 1 }, { t: 'a', n: 2 }]);
    await journal.append([{ t: 'a', n: 3 }]);
    await journal.close();
    expect(await read(where)).toEqual([{ t: 'a', n: 1 }, { t: 'a', n: 2 }, { t: 'a', n: 3 }]);

    // A crash in mid-append: half a line at the end, never acknowledged.
    await appendFile(join(where, OUTBOX_FILE), '0badc0de {"t":"a","n":');
    const records: unknown[] = [];
    const again = await OutboxJournal.open(where, (record) => records.push(record));
    expect(records).toHaveLength(3);
    await again.append([{ t: 'a', n: 4 }]);
    await again.rewrite([{ t: 'b' }, { t: 'a', n: 4 }]);
    await again.append([{ t: 'a', n: 5 }]);
    await again.close();
    expect(await read(where)).toEqual([{ t: 'b' }, { t: 'a', n: 4 }, { t: 'a', n: 5 }]);
    expect(await readFile(join(where, OUTBOX_FILE), 'utf8')).toMatch(/^[0-9a-f]{8} \{"t":"b"\}\n/);
  });

  it('refuses a file damaged before its last line, naming it', async () => {
    const where = await dir();
    const journal = await OutboxJournal.open(where, () => undefined);
    await journal.append([{ t: 'a', n: 1 }, { t: 'a', n: 2 }]);
    await journal.close();
    const path = join(where, OUTBOX_FILE);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"n":1', '"n":7'));
    const opening = OutboxJournal.open(where, () => undefined);
    await expect(opening).rejects.toThrow(StoreCorruptError);
    await expect(opening).rejects.toThrow(/outbox\.jsonl.*line 1 does not match its checksum, and lines follow it/);
  });
});
