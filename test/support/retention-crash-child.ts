/**
 * Child process for the retention crash test: opens an engine with a retention period on the
 * data directory given as argv[2], whose sweep at start removes the expired jobs there. Prints
 * `REMOVED <n>` once the removal is durable. With argv[3] = `torn`, the journal write of the
 * removal stops after its first 1,000 bytes (then nothing) and it prints `TORN`. The
 * parent SIGKILLs it at either line.
 */
import { open } from 'node:fs/promises';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore, type JournalFile } from '../../src/streams/file-store.js';
import { FakeProvider, hookUrl } from './fake-provider.js';

const dir = process.argv[2];
const torn = process.argv[3] === 'torn';
if (dir === undefined) throw new Error('usage: retention-crash-child <data-dir> [torn]');

/** Where the torn write stops: a quarter of the way into the removal of 40 jobs (about 4 KB). */
const TEAR_AT = 1000;
let written = 0;

const openJournal = async (path: string): Promise<JournalFile> => {
  const handle = await open(path, 'a', 0o600);
  return {
    write: async (buffer, offset, length) => {
      if (!torn || written + length <= TEAR_AT) {
        written += length;
        return handle.write(buffer, offset, length);
      }
      await handle.write(buffer, offset, TEAR_AT - written);
      await handle.datasync();
      process.stdout.write('TORN\n');
      return new Promise<never>(() => {});
    },
    datasync: () => handle.datasync(),
    truncate: (length) => handle.truncate(length),
    stat: () => handle.stat(),
    close: () => handle.close(),
  };
};

const engine = await createEngine({
  providers: [new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } })],
  store: await FileStore.open({ dir, openJournal }),
  resultsDir: false,
  webhookUrl: hookUrl,
  retainMs: 7 * 86_400_000,
});
engine.events$.subscribe((event) => {
  if (event.type === 'removed') process.stdout.write(`REMOVED ${event.ids.length}\n`);
});
// Stays up until killed.
setInterval(() => {}, 60_000);
