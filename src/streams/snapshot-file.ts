import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Adapter } from 'lowdb';
import { z } from 'zod';
import { StoreCorruptError } from './errors.js';
import { StoredJob } from './job-store.js';

/** The compacted snapshot file: every job as of journal generation `generation`. */
export const SnapshotData = z.object({
  format: z.literal(1),
  /** Journals numbered from this generation on are replayed on top of `jobs`. */
  generation: z.number().int().nonnegative(),
  jobs: z.array(StoredJob),
});
export type SnapshotData = z.infer<typeof SnapshotData>;

/** How many jobs are serialised between two yields to the event loop. */
const CHUNK = 500;

/**
 * A lowdb adapter for the snapshot file that (1) validates what it reads and fails with a
 * {@link StoreCorruptError} naming the file and the problem, (2) writes in chunks, yielding to
 * the event loop between them so a 100,000-job snapshot does not stall webhooks, and (3) makes
 * the result durable: temporary file, fsync, rename, fsync of the directory.
 */
export class SnapshotFile implements Adapter<SnapshotData> {
  readonly file: string;
  readonly #fsync: boolean;
  /** Size of the last file read or written, in bytes. */
  bytes = 0;

  constructor(file: string, options: { fsync?: boolean } = {}) {
    this.file = file;
    this.#fsync = options.fsync ?? true;
  }

  async read(): Promise<SnapshotData | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    this.bytes = Buffer.byteLength(text);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      const size = text.length === 0 ? 'the file is empty' : `it is not valid JSON (${(error as Error).message})`;
      throw new StoreCorruptError(this.file, size, { cause: error });
    }
    const parsed = SnapshotData.safeParse(raw);
    if (!parsed.success) throw new StoreCorruptError(this.file, describeIssue(parsed.error));
    return parsed.data;
  }

  async write(data: SnapshotData): Promise<void> {
    const temp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(temp, 'w');
    let bytes = 0;
    try {
      const put = async (text: string): Promise<void> => {
        const buffer = Buffer.from(text);
        bytes += buffer.length;
        await handle.write(buffer);
      };
      await put(`{"format":${data.format},"generation":${data.generation},"jobs":[`);
      for (let i = 0; i < data.jobs.length; i += CHUNK) {
        const chunk = data.jobs.slice(i, i + CHUNK).map((job) => JSON.stringify(job));
        await put((i === 0 ? '\n' : ',\n') + chunk.join(',\n'));
        await yieldToLoop();
      }
      await put('\n]}\n');
      if (this.#fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
    if (this.#fsync) await syncDirectory(dirname(this.file));
    this.bytes = bytes;
  }
}

/** Makes a rename or a new file in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The first zod issue as "path: message". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid content';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return path ? `${path}: ${issue.message}` : issue.message;
}
