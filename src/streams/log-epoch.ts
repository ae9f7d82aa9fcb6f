import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { StoreCorruptError } from './errors.js';
import { mintEpoch } from './job-id.js';
import { writeFileDurably } from './snapshot-file.js';
import { describeIssue } from './stored-record.js';

/** The file, in the data directory, that names its change log. */
export const LOG_EPOCH_FILE = 'log-epoch.json';

/**
 * The name of a data directory's change log: minted once, the first time the directory is
 * loaded (a directory written by an earlier version gets one then), and kept for the life of the
 * directory, so `{epoch, seq}` stays valid across restarts.
 */
export const LogEpoch = z.object({
  format: z.literal(1),
  epoch: z.string().min(1).max(128),
});
export type LogEpoch = z.infer<typeof LogEpoch>;

/**
 * Reads the directory's epoch; `undefined` when none is recorded. A damaged record is a
 * {@link StoreCorruptError}: a silently new epoch would make clients trust a different log.
 */
export async function readLogEpoch(dir: string): Promise<string | undefined> {
  const path = join(dir, LOG_EPOCH_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new StoreCorruptError(path, `it cannot be read (${code ?? 'error'})`, { cause: error });
  }
  if (text !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new StoreCorruptError(path, 'it is not valid JSON', { cause: error });
    }
    const parsed = LogEpoch.safeParse(raw);
    if (!parsed.success) throw new StoreCorruptError(path, describeIssue(parsed.error));
    return parsed.data.epoch;
  }
  return undefined;
}

/** Mints an epoch and records it durably (temporary file, fsync, rename, fsync of the directory). */
export async function recordNewLogEpoch(dir: string, fsync: boolean): Promise<string> {
  const record: LogEpoch = { format: 1, epoch: mintEpoch() };
  await writeFileDurably(join(dir, LOG_EPOCH_FILE), `${JSON.stringify(record)}\n`, fsync);
  return record.epoch;
}
