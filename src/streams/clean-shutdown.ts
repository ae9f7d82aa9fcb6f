import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { StoreCorruptError } from './errors.js';
import { syncDirectory, writeFileDurably } from './snapshot-file.js';
import { describeIssue } from './stored-record.js';

/** The file, in the data directory, that a clean shutdown leaves behind. */
export const CLEAN_SHUTDOWN_FILE = 'clean-shutdown.json';

/**
 * What the data directory held when the store was last closed cleanly: the snapshot's
 * generation and size and every live journal's exact length. Written (fsynced) by `close`,
 * removed (fsynced) before the store next writes anything.
 *
 * A journal's tail can be cut off without leaving a trace in the file itself: the frames only
 * show that the last batch is incomplete, which is also what a crash leaves. This record is the
 * evidence from outside: when it is present the directory was closed cleanly, so no tail may be
 * missing, and a journal of another length, a missing or extra journal, or another snapshot, is
 * damage. When it is absent the store crashed (or was never closed), and a torn last batch is
 * recovered as the trace of that crash.
 */
export const CleanShutdown = z.object({
  format: z.literal(2),
  snapshot: z.object({ generation: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }).nullable(),
  journals: z.array(z.object({ file: z.string().min(1), bytes: z.number().int().nonnegative() })),
});
export type CleanShutdown = z.infer<typeof CleanShutdown>;

/** Reads the record; `undefined` when there is none (the last run did not close cleanly). */
export async function readCleanShutdown(dir: string): Promise<CleanShutdown | undefined> {
  const path = join(dir, CLEAN_SHUTDOWN_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new StoreCorruptError(path, `it cannot be read (${code ?? 'error'})`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new StoreCorruptError(path, 'it is not valid JSON', { cause: error });
  }
  const parsed = CleanShutdown.safeParse(raw);
  if (!parsed.success) throw new StoreCorruptError(path, describeIssue(parsed.error));
  return parsed.data;
}

/** Writes the record durably (temporary file, fsync, rename, fsync of the directory). */
export async function writeCleanShutdown(dir: string, record: CleanShutdown, fsync: boolean): Promise<void> {
  await writeFileDurably(join(dir, CLEAN_SHUTDOWN_FILE), `${JSON.stringify(record)}\n`, fsync);
}

/** Removes the record durably, before the store changes any file. */
export async function removeCleanShutdown(dir: string, fsync: boolean): Promise<void> {
  try {
    await unlink(join(dir, CLEAN_SHUTDOWN_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (fsync) await syncDirectory(dir);
}

/**
 * Compares what `load` found with the record of the last clean shutdown, and throws a
 * {@link StoreCorruptError} naming the first file that differs.
 */
export function checkCleanShutdown(
  dir: string,
  record: CleanShutdown,
  found: { snapshot: { generation: number; bytes: number } | null; journals: readonly { file: string; bytes: number }[] },
): void {
  const since = 'when the store was last closed cleanly';
  const snapshotPath = join(dir, 'jobs.json');
  if (record.snapshot === null && found.snapshot !== null) {
    throw new StoreCorruptError(snapshotPath, `it appeared after the store was last closed cleanly (without one)`);
  }
  if (record.snapshot !== null) {
    if (found.snapshot === null) throw new StoreCorruptError(snapshotPath, `it is missing; it was ${record.snapshot.bytes} bytes ${since}`);
    if (found.snapshot.generation !== record.snapshot.generation || found.snapshot.bytes !== record.snapshot.bytes) {
      throw new StoreCorruptError(
        snapshotPath,
        `it is ${found.snapshot.bytes} bytes of generation ${found.snapshot.generation}, but was ${record.snapshot.bytes} bytes of generation ${record.snapshot.generation} ${since}: it was replaced or changed since`,
      );
    }
  }
  const sizes = new Map(found.journals.map((j) => [j.file, j.bytes]));
  for (const journal of record.journals) {
    const bytes = sizes.get(journal.file);
    const path = join(dir, journal.file);
    if (bytes === undefined) throw new StoreCorruptError(path, `it is missing; it was ${journal.bytes} bytes ${since}`);
    if (bytes !== journal.bytes) {
      throw new StoreCorruptError(path, `it is ${bytes} bytes, but was ${journal.bytes} bytes ${since}: it was cut or changed since`);
    }
    sizes.delete(journal.file);
  }
  for (const file of sizes.keys()) throw new StoreCorruptError(join(dir, file), `it appeared after the store was last closed cleanly`);
}
