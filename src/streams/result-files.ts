import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { StoreCorruptError } from './errors.js';
import type { JsonValue } from './job-snapshot.js';
import type { StoredJob } from './job-store.js';
import { syncDirectory } from './snapshot-file.js';
import { RESULT_FILE_NAME, STORED_JSON_DEPTH, type ResultFileRef, type StoredRecord } from './stored-record.js';
import { tooDeepAt } from './json-depth.js';

/** The folder of the data directory that holds large results, one file per job version. */
export const RESULTS_DIR = 'results-data';

interface Known {
  /** The result object this entry describes (compared by identity: snapshots are immutable). */
  result: JsonValue;
  /** The version whose record last set this entry. */
  version: number;
  /** Its file, or `undefined` when the result is small enough to stay inline. */
  ref: ResultFileRef | undefined;
}

/**
 * The out-of-line results of a {@link FileStore}: a job result larger than `inlineMaxBytes`
 * (serialised) is written once to `<data>/results-data/<jobId>.<version>.json` (fsynced, with its
 * directory, before the line that refers to it), and journal and snapshot lines carry only
 * `resultFile: { name, bytes }`. So a journal line and a snapshot line stay small whatever the
 * results weigh, a compaction does not serialise them again, and loading reads them one file at
 * a time.
 *
 * Which result is in which file is remembered per job by object identity (snapshots are
 * immutable; a later version that keeps the result keeps the object), so an unchanged result is
 * never serialised twice. Files no longer referenced are removed by {@link sweep} after a
 * compaction.
 */
export class ResultFiles {
  readonly #dataDir: string;
  readonly #dir: string;
  readonly #inlineMaxBytes: number;
  readonly #fsync: boolean;
  readonly #known = new Map<string, Known>();
  /** Files referenced by lines written since the current generation began (snapshot lines included). */
  #referenced = new Set<string>();
  /** Files created since the last {@link flush}: their directory entries still need an fsync. */
  #created = false;
  /** The directory sync in flight (or the last one). */
  #sync: Promise<void> = Promise.resolve();
  #dirReady: Promise<void> | undefined;
  #garbageBytes = 0;

  constructor(options: { dataDir: string; inlineMaxBytes: number; fsync: boolean }) {
    this.#dataDir = options.dataDir;
    this.#dir = join(options.dataDir, RESULTS_DIR);
    this.#inlineMaxBytes = options.inlineMaxBytes;
    this.#fsync = options.fsync;
  }

  /** Bytes of result files superseded since the current generation began: garbage a compaction would remove. */
  get garbageBytes(): number {
    return this.#garbageBytes;
  }

  /**
   * The line to write for `stored`, when no file has to be written first: `stored` itself when
   * its result is small (or none), a copy with `result: null` and a `resultFile` reference when
   * its result is already in a file. `undefined` when the result is too large to inline and has
   * no file yet: then {@link recordWithFile}. No promise on this path: a compaction goes through
   * every job and an append through every line, and a promise each was most of their garbage.
   * Call {@link flush} before writing the line.
   */
  recordNow(stored: StoredJob): StoredRecord | undefined {
    const { job } = stored;
    if (job.result === null) return stored;
    const known = this.#known.get(job.id);
    if (known !== undefined && known.result === job.result) return this.#withRef(stored, known.ref);
    if (Buffer.byteLength(JSON.stringify(job.result)) > this.#inlineMaxBytes) return undefined;
    // An inline result is not remembered unless it replaces a file: the snapshot line holds it
    // anyway, and an entry per finished job cost memory and, as the map grew by a whole store's
    // jobs during the first compaction, a stall of tens of milliseconds.
    if (known !== undefined) this.#remember(job.id, { result: job.result, version: job.version, ref: undefined });
    return stored;
  }

  #withRef(stored: StoredJob, ref: ResultFileRef | undefined): StoredRecord {
    if (ref === undefined) return stored;
    this.#referenced.add(ref.name);
    return { ...stored, job: { ...stored.job, result: null }, resultFile: ref };
  }

  /** The line for a result too large to inline with no file yet (where {@link recordNow} gives `undefined`): writes its file first. */
  async recordWithFile(stored: StoredJob): Promise<StoredRecord> {
    const { job } = stored;
    const text = JSON.stringify(job.result);
    const ref: ResultFileRef = { name: resultFileName(job.id, job.version), bytes: Buffer.byteLength(text) };
    // Referenced before it exists, so that a concurrent sweep never removes it.
    this.#referenced.add(ref.name);
    await this.#write(ref.name, text);
    this.#remember(job.id, { result: job.result, version: job.version, ref });
    return this.#withRef(stored, ref);
  }

  /**
   * Makes the files created so far durable (their directory entries). Also waits for a sync
   * that another caller started, which may be the one covering this caller's files.
   */
  async flush(): Promise<void> {
    if (this.#created) {
      this.#created = false;
      const previous = this.#sync;
      this.#sync = (async () => {
        await previous.catch(() => undefined);
        if (this.#fsync) await syncDirectory(this.#dir);
      })();
      // A failed sync is tried again by the next flush.
      this.#sync.catch(() => (this.#created = true));
    }
    await this.#sync;
  }

  /** Records what `load` found: this job's `result` (the object handed out) is in file `ref`. */
  loaded(jobId: string, version: number, result: JsonValue, ref: ResultFileRef): void {
    this.#known.set(jobId, { result, version, ref });
  }

  /**
   * Reads a result file back. `from` says which line refers to it (for the error). Any problem
   * (missing, wrong size, not JSON, nested too deep) is a {@link StoreCorruptError} naming the file.
   */
  async read(ref: ResultFileRef, jobId: string, from: string): Promise<JsonValue> {
    const path = join(this.#dir, ref.name);
    let buffer: Buffer;
    try {
      buffer = await readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const problem = code === 'ENOENT' ? 'it is missing' : `it cannot be read (${code ?? 'error'})`;
      throw new StoreCorruptError(path, `${problem}; it holds the result of job ${jobId} that ${from} refers to`, { cause: error });
    }
    if (buffer.length !== ref.bytes) {
      throw new StoreCorruptError(path, `it is ${buffer.length} bytes, but ${from} says ${ref.bytes} (the result of job ${jobId})`);
    }
    let value: unknown;
    try {
      value = JSON.parse(buffer.toString('utf8'));
    } catch (error) {
      throw new StoreCorruptError(path, `it is not valid JSON (the result of job ${jobId})`, { cause: error });
    }
    if (tooDeepAt(value, STORED_JSON_DEPTH) !== undefined) {
      throw new StoreCorruptError(path, `it nests deeper than ${STORED_JSON_DEPTH} levels (the result of job ${jobId})`);
    }
    return value as JsonValue;
  }

  /**
   * Starts a new journal generation (a compaction has captured the state): from now on only
   * the files that the new snapshot and the new journal refer to are needed.
   */
  beginGeneration(): void {
    this.#referenced = new Set();
    this.#garbageBytes = 0;
  }

  /**
   * Removes result files that nothing refers to any more: not the new snapshot, not the
   * current journal, not the latest known result of a job. Call only once the compaction that
   * began the generation is durable and the older journals are gone.
   */
  async sweep(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const latest = new Set<string>();
    for (const known of this.#known.values()) if (known.ref !== undefined) latest.add(known.ref.name);
    let removed = 0;
    for (const name of names) {
      // Checked against the live sets at each step: appends go on meanwhile.
      if (!RESULT_FILE_NAME.test(name) || this.#referenced.has(name) || latest.has(name)) continue;
      await unlink(join(this.#dir, name)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      if (++removed % 100 === 0) await yieldToLoop();
    }
  }

  /**
   * Forgets a removed job (retention): its result file is then garbage, removed by the sweep
   * after the next compaction (which no longer refers to it).
   */
  forget(jobId: string): void {
    const known = this.#known.get(jobId);
    if (known?.ref !== undefined) this.#garbageBytes += known.ref.bytes;
    this.#known.delete(jobId);
  }

  #remember(jobId: string, next: Known): void {
    const known = this.#known.get(jobId);
    // A compaction may finish an older version after an append stored a newer one.
    if (known !== undefined && known.version > next.version) return;
    if (known?.ref !== undefined && known.ref.name !== next.ref?.name) this.#garbageBytes += known.ref.bytes;
    this.#known.set(jobId, next);
  }

  async #write(name: string, text: string): Promise<void> {
    this.#dirReady ??= (async () => {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      if (this.#fsync) await syncDirectory(this.#dataDir);
    })().catch((error: unknown) => {
      this.#dirReady = undefined;
      throw error;
    });
    await this.#dirReady;
    const path = join(this.#dir, name);
    const handle = await open(path, 'w', 0o600);
    try {
      await handle.writeFile(text);
      if (this.#fsync) await handle.datasync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      // A partial file (a full disk) must not stay behind; the caller retries the whole record.
      await unlink(path).catch(() => undefined);
      throw error;
    }
    await handle.close();
    this.#created = true;
  }
}

/**
 * `<jobId>.<version>.json`, or a hash of the id in its place when the id is not a safe file name
 * (lower case only: on a case-insensitive file system `job_A` and `job_a` would be one file).
 */
function resultFileName(jobId: string, version: number): string {
  const base = /^[a-z0-9_-]{1,128}$/.test(jobId) ? jobId : `h_${createHash('sha256').update(jobId).digest('hex').slice(0, 40)}`;
  return `${base}.${version}.json`;
}
