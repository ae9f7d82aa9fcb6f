import { open, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Adapter } from 'lowdb';
import { z } from 'zod';
import { JobstreamError, StoreCorruptError } from './errors.js';
import { asStoreCorrupt, MAX_LINE_BYTES, readLines } from './line-reader.js';
import { describeIssue, parseStoredRecord, StoredRecord } from './stored-record.js';

export { describeIssue } from './stored-record.js';

/** The snapshot format this version writes. It reads formats 1 and 2 as well. */
export const SNAPSHOT_FORMAT = 3;

const Format = z.union([z.literal(1), z.literal(2), z.literal(3)]);

/**
 * The compacted snapshot file: every job as of journal generation `generation`, one line per
 * job. Format 2 adds `count` (the number of jobs, so a file cut short is recognised) and lets a
 * job's result live in a file of its own (`resultFile`, see `ResultFiles`). Format 3 adds
 * `changes`: the tail of the change log as of the compaction (versions with their `seq` and
 * `previousStatus`, oldest first), so a restart can still replay it to resuming subscribers.
 */
export const SnapshotData = z.object({
  format: Format,
  /** Journals numbered from this generation on are replayed on top of `jobs`. */
  generation: z.number().int().nonnegative(),
  /** How many jobs follow (format 2). */
  count: z.number().int().nonnegative().optional(),
  jobs: z.array(StoredRecord),
  /** How many changes follow the jobs (format 3). */
  changeCount: z.number().int().nonnegative().optional(),
  /** The change log's tail (format 3). */
  changes: z.array(StoredRecord).optional(),
  /** The change log's seq at the last removal of jobs (retention), when there was one. */
  removedAt: z.number().int().nonnegative().optional(),
});
export type SnapshotData = z.infer<typeof SnapshotData>;

/** The first line of a snapshot in its line-per-job layout, read as `line + ']}'`. */
const Header = z.object({
  format: Format,
  generation: z.number().int().nonnegative(),
  count: z.number().int().nonnegative().optional(),
  changeCount: z.number().int().nonnegative().optional(),
  removedAt: z.number().int().nonnegative().optional(),
  jobs: z.tuple([]),
});

/** The line between the job list and the change list (format 3). */
const CHANGES_LINE = '],"changes":[';

/** How many jobs, or how many bytes of them, are serialised between two yields to the event loop. */
const CHUNK_JOBS = 500;
/** (In UTF-16 units: a chunk's string stays in V8's young generation, not its large-object space.) */
const CHUNK_BYTES = 64 * 1024;
/** …or how long serialising one chunk may take (the event loop waits meanwhile). */
const CHUNK_MS = 1;
/** One buffer per write that every chunk is encoded into (at most 3 bytes per UTF-16 unit). */
const SCRATCH_BYTES = 3 * CHUNK_BYTES;

/** What `write` needs of an open file; a `FileHandle` is one. Tests pass one that writes short. */
export interface SnapshotWriteHandle {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A lowdb adapter for the snapshot file (`jobs.json`). The file is one JSON document (lowdb's
 * `JSONFile` or `jq` can read it) laid out one job per line:
 *
 * ```
 * {"format":2,"generation":7,"count":1562,"jobs":[
 * {"job":{…},"secret":"…"},
 * {"job":{…},"secret":"…","resultFile":{"name":"job_….3.json","bytes":598016}}
 * ]}
 * ```
 *
 * (1) `read` streams it line by line, so no single string ever holds the whole file (a 600 MB
 * snapshot used to fail with a bare `RangeError`), validates every line and fails with a
 * {@link StoreCorruptError} naming the file, the line and the problem; a file that is cut short,
 * a directory or unreadable is such an error too. Format-1 files in this layout stream the same
 * way; a format-1 file in any other layout (one line) is read whole, up to
 * {@link MAX_LINE_BYTES}. (2) `write` serialises in chunks, yielding to the event loop between
 * them, and (3) makes the result durable: temporary file, fsync, rename, fsync of the directory.
 * It always writes {@link SNAPSHOT_FORMAT}.
 */
export class SnapshotFile implements Adapter<SnapshotData> {
  readonly file: string;
  readonly #fsync: boolean;
  /** Size of the last file read or written, in bytes. */
  bytes = 0;

  readonly #open: (path: string) => Promise<SnapshotWriteHandle>;

  constructor(file: string, options: { fsync?: boolean; openForWrite?: (path: string) => Promise<SnapshotWriteHandle> } = {}) {
    this.file = file;
    this.#fsync = options.fsync ?? true;
    this.#open = options.openForWrite ?? ((path) => open(path, 'w', 0o600));
  }

  async read(): Promise<SnapshotData | null> {
    try {
      return await this.#read();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw asStoreCorrupt(this.file, error);
    }
  }

  async #read(): Promise<SnapshotData> {
    let header: z.infer<typeof Header> | undefined;
    const jobs: StoredRecord[] = [];
    const changes: StoredRecord[] = [];
    /** Where job lines go: the job list, then (format 3) the change list. */
    let list = jobs;
    let size = 0;
    let ended = false;
    /** The last line of a list, and whether it ended with the comma that promises another. */
    let previous: { number: number; comma: boolean } | undefined;
    for await (const line of readLines(this.file)) {
      size = line.end;
      const text = line.bytes.toString('utf8');
      if (header === undefined) {
        header = line.complete ? parseHeader(text) : undefined;
        if (header === undefined) break; // Not the line-per-job layout: read as one document below.
        continue;
      }
      if (ended) {
        if (text.trim() !== '') throw new StoreCorruptError(this.file, `line ${line.number} follows the end of the job list`);
        continue;
      }
      if (text === ']}' || (text === CHANGES_LINE && header.format === 3 && list === jobs)) {
        if (previous?.comma === true) throw new StoreCorruptError(this.file, `line ${previous.number} ends with a comma, but nothing follows it in its list`);
        previous = undefined;
        if (text === ']}') ended = true;
        else list = changes;
        continue;
      }
      if (!line.complete) break;
      if (previous !== undefined && !previous.comma) throw new StoreCorruptError(this.file, `line ${previous.number} has no comma, but line ${line.number} follows it`);
      const comma = text.endsWith(',');
      list.push(parseStoredRecord(comma ? text.slice(0, -1) : text, this.file, line.number));
      previous = { number: line.number, comma };
    }
    if (header === undefined) return this.#readWhole();
    if (!ended) throw new StoreCorruptError(this.file, `it ends after ${jobs.length} jobs and ${changes.length} changes, before the end of its lists: the file was cut short`);
    if (header.count !== undefined && header.count !== jobs.length) {
      throw new StoreCorruptError(this.file, `it holds ${jobs.length} jobs, but its first line says ${header.count}`);
    }
    if (header.format >= 2 && header.count === undefined) throw new StoreCorruptError(this.file, 'line 1: count: missing');
    if (header.format === 3) {
      if (header.changeCount === undefined) throw new StoreCorruptError(this.file, 'line 1: changeCount: missing');
      if (list !== changes) throw new StoreCorruptError(this.file, 'its change list is missing');
      if (header.changeCount !== changes.length) throw new StoreCorruptError(this.file, `it holds ${changes.length} changes, but its first line says ${header.changeCount}`);
    }
    this.bytes = size;
    return {
      format: header.format,
      generation: header.generation,
      ...(header.count === undefined ? {} : { count: header.count }),
      jobs,
      ...(header.format === 3 ? { changeCount: changes.length, changes } : {}),
      ...(header.removedAt === undefined ? {} : { removedAt: header.removedAt }),
    };
  }

  /** A snapshot that is not in the line-per-job layout: one JSON document, read whole. */
  async #readWhole(): Promise<SnapshotData> {
    const { size } = await stat(this.file);
    if (size === 0) throw new StoreCorruptError(this.file, 'the file is empty');
    if (size > MAX_LINE_BYTES) throw new StoreCorruptError(this.file, `it is ${size} bytes in one line, too large to read`);
    const text = await readFile(this.file, 'utf8');
    this.bytes = size;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new StoreCorruptError(this.file, `it is not valid JSON (${(error as Error).message})`, { cause: error });
    }
    let parsed: ReturnType<typeof SnapshotData.safeParse>;
    try {
      parsed = SnapshotData.safeParse(raw);
    } catch (error) {
      throw new StoreCorruptError(this.file, `it cannot be checked (${(error as Error).message})`, { cause: error });
    }
    if (!parsed.success) throw new StoreCorruptError(this.file, describeIssue(parsed.error));
    const data = parsed.data;
    if (data.count !== undefined && data.count !== data.jobs.length) {
      throw new StoreCorruptError(this.file, `it holds ${data.jobs.length} jobs, but says ${data.count}`);
    }
    return data;
  }

  async write(data: SnapshotData): Promise<void> {
    const temp = `${this.file}.${process.pid}.tmp`;
    const handle = await this.#open(temp);
    let bytes = 0;
    try {
      // Chunks are encoded into one reused buffer: a fresh buffer per chunk was tens of MB of
      // short-lived external memory per compaction, and garbage collections the loop waited for.
      const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
      const put = async (text: string): Promise<void> => {
        const length = Buffer.byteLength(text);
        const buffer = length <= scratch.length ? scratch.subarray(0, scratch.write(text)) : Buffer.from(text);
        bytes += length;
        // A nearly full disk takes part of a write: the rest follows, or the next write fails.
        // (Ignoring the count renamed a snapshot with a hole into place.)
        for (let offset = 0; offset < buffer.length; ) {
          const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
          if (!(bytesWritten > 0)) throw new JobstreamError('STORE_WRITE_STALLED', `a write to ${temp} made no progress`);
          offset += bytesWritten;
        }
      };
      const { jobs } = data;
      const changes = data.changes ?? [];
      const removedAt = data.removedAt === undefined || data.removedAt === 0 ? '' : `"removedAt":${data.removedAt},`;
      await put(`{"format":${SNAPSHOT_FORMAT},"generation":${data.generation},"count":${jobs.length},"changeCount":${changes.length},${removedAt}"jobs":[`);
      /** Writes one list, one record per line, in chunks between yields. */
      const putList = async (records: readonly StoredRecord[]): Promise<void> => {
        let chunk: string[] = [];
        let chunkBytes = 0;
        let started = performance.now();
        for (let i = 0; i < records.length; i++) {
          const line = JSON.stringify(records[i]);
          chunk.push(line);
          chunkBytes += line.length;
          if (chunk.length >= CHUNK_JOBS || chunkBytes >= CHUNK_BYTES || i === records.length - 1 || performance.now() - started > CHUNK_MS) {
            await put((i + 1 === chunk.length ? '\n' : ',\n') + chunk.join(',\n'));
            chunk = [];
            chunkBytes = 0;
            await yieldToLoop();
            started = performance.now();
          }
        }
      };
      await putList(jobs);
      await put(`\n${CHANGES_LINE}`);
      await putList(changes);
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

/** The first line of the line-per-job layout (`{"format":…,"jobs":[`), or `undefined` when it is not one. */
function parseHeader(text: string): z.infer<typeof Header> | undefined {
  if (!text.startsWith('{') || !text.endsWith('"jobs":[')) return undefined;
  try {
    const parsed = Header.safeParse(JSON.parse(`${text}]}`));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replaces a small file durably: writes `text` to a temporary file (mode 0600), fsyncs it,
 * renames it into place and fsyncs the directory (the fsyncs only when `fsync`).
 */
export async function writeFileDurably(path: string, text: string, fsync: boolean): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  if (fsync) await syncDirectory(dirname(path));
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
