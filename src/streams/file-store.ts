import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Low } from 'lowdb';
import { lockDirectory, type DirLock } from './dir-lock.js';
import { JobstreamError, StoreCorruptError } from './errors.js';
import { checkCleanShutdown, readCleanShutdown, removeCleanShutdown, writeCleanShutdown } from './clean-shutdown.js';
import type { JsonValue } from './job-snapshot.js';
import type { JobRemoval, JobStore, StoredJob } from './job-store.js';
import { encodeJournalBatch, readJournal } from './journal-file.js';
import { asStoreCorrupt } from './line-reader.js';
import { readLogEpoch, recordNewLogEpoch } from './log-epoch.js';
import { ResultFiles } from './result-files.js';
import { SnapshotFile, SNAPSHOT_FORMAT, syncDirectory, type SnapshotData } from './snapshot-file.js';
import type { StoredRecord } from './stored-record.js';

/** Options of {@link FileStore.open}. */
export interface FileStoreOptions {
  /** The data directory; created when missing. */
  dir: string;
  /**
   * Compaction starts once the journal is at least this big *and* at least as big as the last
   * snapshot, which keeps the amortised cost of a change independent of the number of jobs.
   * @default 1 MiB
   */
  compactMinBytes?: number;
  /**
   * fsync data and directory on every commit and compaction. Turning it off keeps `kill -9`
   * safety (the page cache survives a process) but not power-cut safety.
   * @default true
   */
  fsync?: boolean;
  /**
   * A job result whose JSON is larger than this many bytes is kept in a file of its own
   * (`<dir>/results-data/<jobId>.<version>.json`) that journal and snapshot lines refer to, so
   * they stay small and a compaction never serialises it again.
   * @default 32 KiB
   */
  inlineResultMaxBytes?: number;
  /**
   * How many of the newest changes (versions with their `seq`) the store keeps for the change
   * log's tail across restarts and compactions: the engine's `changeLogSize`.
   * @default 10,000
   */
  keepChanges?: number;
  /**
   * Opens a journal file for appending. A seam for tests that need faults a real file system
   * does not give on demand (a short write, EIO from `datasync`).
   * @internal
   * @default (path) => fs.promises.open(path, 'a', 0o600)
   */
  openJournal?: (path: string) => Promise<JournalFile>;
}

/**
 * What the store needs of an open journal file: the subset of `FileHandle` it uses. Opened in
 * append mode, so every write goes to the end of the file, also after a `truncate`.
 */
export interface JournalFile {
  /** Writes up to `length` bytes from `buffer` at `offset`; may write fewer (a nearly full disk). */
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

const openForAppend = (path: string): Promise<JournalFile> => open(path, 'a', 0o600);

const SNAPSHOT = 'jobs.json';
const JOURNAL = /^journal-(\d+)\.jsonl$/;

function journalName(generation: number): string {
  return `journal-${String(generation).padStart(8, '0')}.jsonl`;
}

/** How long a compaction works on the event loop before it yields. */
const YIELD_AFTER_MS = 1;

function validKeepChanges(count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`keepChanges must be a non-negative integer, not ${count}`);
  return count;
}

/**
 * Collects the stored versions that carry a `seq` while `load` reads the files, keeping only the
 * newest `keep` seqs (and at most twice that in memory at any time).
 */
class TailCollector {
  readonly #keep: number;
  readonly #bySeq = new Map<number, { record: StoredRecord; from: string }>();
  #maxSeq = 0;

  constructor(keep: number) {
    this.#keep = keep;
  }

  add(record: StoredRecord, from: string): void {
    const { seq } = record;
    if (seq === undefined || this.#keep === 0 || seq <= this.#maxSeq - this.#keep) return;
    // A snapshot's job line may lack the previous status that its change line has.
    if (record.previousStatus === undefined && this.#bySeq.get(seq)?.record.previousStatus !== undefined) return;
    this.#bySeq.set(seq, { record, from });
    if (seq > this.#maxSeq) this.#maxSeq = seq;
    if (this.#bySeq.size > 2 * this.#keep) {
      for (const kept of this.#bySeq.keys()) if (kept <= this.#maxSeq - this.#keep) this.#bySeq.delete(kept);
    }
  }

  /** Drops the collected versions of removed jobs (their history is gone with them). */
  forget(ids: ReadonlySet<string>): void {
    for (const [seq, { record }] of this.#bySeq) if (ids.has(record.job.id)) this.#bySeq.delete(seq);
  }

  /** From the highest seq down, while the seqs are contiguous; at most `keep`. */
  *newestFirst(): Generator<{ record: StoredRecord; from: string }> {
    for (let seq = this.#maxSeq; seq > this.#maxSeq - this.#keep; seq--) {
      const found = this.#bySeq.get(seq);
      if (found === undefined) return;
      yield found;
    }
  }
}

function validInlineMax(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`inlineResultMaxBytes must be a non-negative integer, not ${bytes}`);
  return bytes;
}

/**
 * The durable store: a lowdb snapshot file (`jobs.json`) plus an append-only journal
 * (`journal-<generation>.jsonl`) of job states written since, large results in files of their
 * own (`results-data/<jobId>.<version>.json`, see {@link ResultFiles}), and, while the store is
 * closed cleanly, `clean-shutdown.json`; `log-epoch.json` names the directory's change log
 * ({@link epoch}), and every journal and snapshot line carries the `seq` its version was
 * published with, so the log's seq continues after a restart. On-disk format 2; format 1 (the snapshot and journals
 * of earlier versions) is read as well and rewritten as format 2 by the next compaction.
 *
 * - `append` writes one line per changed job to the journal and fsyncs it: the cost of a commit
 *   depends on the batch, never on how many jobs exist or have finished. An append is whole or
 *   absent: a short write is continued, and a failed one (ENOSPC, EIO, a failed `datasync`) is
 *   cut back to the last whole line before it rejects, so a retry never leaves a partial or
 *   duplicated line behind.
 *   Each append is one framed batch (see `readJournal`): a crash can only leave an incomplete
 *   last batch, which is recognisable as such.
 * - A result over `inlineResultMaxBytes` is written (and fsynced) to its own file before the
 *   line that refers to it, once per result: lines stay small, and neither a commit nor a
 *   compaction serialises a large result again.
 * - When the journal (plus superseded result files) has grown as large as the snapshot,
 *   `compact` starts a new journal generation and rewrites the snapshot from memory (in chunks,
 *   off the hot path); the journals it covers and the result files nothing refers to any more
 *   are deleted afterwards.
 * - `load` streams the snapshot and the newer journals line by line (validated; the highest
 *   version of a job wins), then reads the result files of the winning versions. It cuts off a
 *   torn last batch, the trace of a crash in mid-append, which was never acknowledged. Any other
 *   damage stops start-up with a {@link StoreCorruptError} naming the file (and line): a line
 *   that does not parse or nests too deep, a batch with lines missing, changed or out of order,
 *   a journal generation without the snapshot or journal before it, a missing or resized result
 *   file, and any difference from the record of the last clean shutdown (a journal cut at a
 *   batch boundary, say). Limit: after a crash there is no record, and a tail cut off the last
 *   journal, wherever the cut falls, looks like a torn write and is accepted (only unacknowledged
 *   data can be lost that way by a crash; by hand, anything after the cut).
 * - One process owns the directory (`LOCK`).
 */
export class FileStore implements JobStore {
  readonly dir: string;
  readonly #db: Low<SnapshotData>;
  readonly #snapshot: SnapshotFile;
  readonly #lock: DirLock;
  readonly #compactMinBytes: number;
  readonly #fsync: boolean;
  readonly #openFile: (path: string) => Promise<JournalFile>;
  #generation = 0;
  #journal: JournalFile | undefined;
  /** Length of the open journal file: where its last whole line ends. */
  #journalSize = 0;
  /** A failed append could not be cut back: the open journal ends in bytes past `#journalSize`. */
  #journalTorn = false;
  #journalBytes = 0;
  #compaction: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  readonly #results: ResultFiles;
  /** `load` succeeded: `close` may record a clean shutdown. */
  #loaded = false;
  /** The clean-shutdown record is gone (or going): set before the first change to any file. */
  #dirty: Promise<void> | undefined;
  /** Generation of the snapshot on disk; `undefined` while there is none. */
  #snapshotGeneration: number | undefined;
  #epoch: string | undefined;
  readonly #keepChanges: number;
  /** The change log's tail as `load` found it, until {@link loadedChanges} hands it over. */
  #loadedChanges: StoredJob[] = [];
  /** The seq at the last removal recorded (0: none). */
  #removedAt = 0;
  /** Appends and removals write the journal one at a time. */
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(options: Required<FileStoreOptions>, lock: DirLock) {
    this.dir = options.dir;
    this.#openFile = options.openJournal;
    this.#lock = lock;
    this.#compactMinBytes = options.compactMinBytes;
    this.#fsync = options.fsync;
    this.#keepChanges = options.keepChanges;
    this.#snapshot = new SnapshotFile(join(options.dir, SNAPSHOT), { fsync: options.fsync });
    this.#db = new Low(this.#snapshot, { format: SNAPSHOT_FORMAT, generation: 0, jobs: [] });
    this.#results = new ResultFiles({ dataDir: options.dir, inlineMaxBytes: options.inlineResultMaxBytes, fsync: options.fsync });
  }

  /** Takes the directory (see {@link lockDirectory}) and returns a store ready to `load`. */
  static async open(options: FileStoreOptions): Promise<FileStore> {
    const inlineResultMaxBytes = validInlineMax(options.inlineResultMaxBytes ?? 32 * 1024);
    const lock = await lockDirectory(options.dir);
    return new FileStore(
      {
        dir: options.dir,
        compactMinBytes: options.compactMinBytes ?? 1024 * 1024,
        fsync: options.fsync ?? true,
        inlineResultMaxBytes,
        keepChanges: validKeepChanges(options.keepChanges ?? 10_000),
        openJournal: options.openJournal ?? openForAppend,
      },
      lock,
    );
  }

  /**
   * The name of this directory's change log (`log-epoch.json`), minted the first time the
   * directory is loaded and kept for its life. @throws Error before {@link load}
   */
  get epoch(): string {
    if (this.#epoch === undefined) throw new Error('FileStore.epoch is known only after load()');
    return this.#epoch;
  }

  /**
   * The tail of the change log that {@link load} found (see {@link JobStore.loadedChanges}):
   * handed over once, then forgotten here.
   */
  loadedChanges(): readonly StoredJob[] {
    const changes = this.#loadedChanges;
    this.#loadedChanges = [];
    return changes;
  }

  /** The seq at the last removal recorded (0: none); see {@link JobStore.removedAt}. */
  get removedAt(): number {
    return this.#removedAt;
  }

  /** Bytes written to the journal since the last compaction. */
  get journalBytes(): number {
    return this.#journalBytes;
  }

  get wantsCompaction(): boolean {
    // Superseded result files count as journal growth: a compaction removes them.
    const growth = this.#journalBytes + this.#results.garbageBytes;
    return this.#compaction === undefined && growth >= Math.max(this.#compactMinBytes, this.#snapshot.bytes);
  }

  /**
   * Reads the snapshot and replays the journals after it, streaming both line by line, then
   * reads the result files of the versions that won. Checks, before anything is changed: the
   * record of the last clean shutdown (every file as it was left), that the journals continue
   * the snapshot without a gap (a journal past generation 0 without the snapshot before it is
   * damage), and each journal's batch frames (only the last journal may end in a torn batch,
   * which is cut off: it was never acknowledged). Any damage is a {@link StoreCorruptError}
   * naming the file (and the line); the store is then closed, nothing changed.
   */
  async load(): Promise<StoredJob[]> {
    try {
      const clean = await readCleanShutdown(this.dir);
      const epoch = await readLogEpoch(this.dir);
      const snapshot = await this.#snapshot.read();
      const winners = new Map<string, { record: StoredRecord; from: string }>();
      for (const record of snapshot?.jobs ?? []) winners.set(record.job.id, { record, from: SNAPSHOT });
      const tail = new TailCollector(this.#keepChanges);
      for (const record of snapshot?.jobs ?? []) tail.add(record, SNAPSHOT);
      for (const record of snapshot?.changes ?? []) tail.add(record, SNAPSHOT);
      let removedAt = snapshot?.removedAt ?? 0;

      const journals = await this.#journals();
      // Older than the snapshot: left behind by a crash between a compaction's rename and its clean-up.
      const stale = snapshot === null ? [] : journals.filter((j) => j.generation < snapshot.generation);
      const live = snapshot === null ? journals : journals.filter((j) => j.generation >= snapshot.generation);
      this.#checkGenerations(snapshot?.generation, live);
      if (clean !== undefined) {
        const sizes: { file: string; bytes: number }[] = [];
        for (const { file } of live) {
          const path = join(this.dir, file);
          const { size } = await stat(path).catch((error: unknown) => {
            throw asStoreCorrupt(path, error);
          });
          sizes.push({ file, bytes: size });
        }
        const found = snapshot === null ? null : { generation: snapshot.generation, bytes: this.#snapshot.bytes };
        checkCleanShutdown(this.dir, clean, { snapshot: found, journals: sizes });
      }

      let journalBytes = 0;
      let tornTail: { path: string; bytes: number } | undefined;
      for (const [index, { file }] of live.entries()) {
        const path = join(this.dir, file);
        const scan = await readJournal(path, (record, line) => {
          if ('removed' in record) {
            const { id, version } = record.removed;
            const known = winners.get(id);
            if (known !== undefined && known.record.job.version <= version) winners.delete(id);
            tail.forget(new Set([id]));
            removedAt = Math.max(removedAt, record.atSeq);
            return;
          }
          tail.add(record, `${file} line ${line}`);
          const known = winners.get(record.job.id);
          if (known === undefined || record.job.version >= known.record.job.version) winners.set(record.job.id, { record, from: `${file} line ${line}` });
        }).catch((error: unknown) => {
          throw asStoreCorrupt(path, error);
        });
        if (scan.tail !== undefined) {
          // Only the last journal was being appended to when the process died.
          if (index < live.length - 1) throw new StoreCorruptError(path, `${scan.tail}, and it is not the last journal`);
          tornTail = { path, bytes: scan.validBytes };
        }
        journalBytes += scan.validBytes;
      }

      // Large results: only those of the winning versions, one file at a time.
      const out: StoredJob[] = [];
      const loaded = new Map<string, StoredJob>();
      for (const { record, from } of winners.values()) {
        const { job, secret, resultFile, seq, previousStatus } = record;
        const extra = { ...(seq === undefined ? {} : { seq }), ...(previousStatus === undefined ? {} : { previousStatus }) };
        let stored: StoredJob;
        if (resultFile === undefined) {
          stored = { job, secret, ...extra };
        } else {
          const result = await this.#results.read(resultFile, job.id, from);
          this.#results.loaded(job.id, job.version, result, resultFile);
          stored = { job: { ...job, result }, secret, ...extra };
        }
        out.push(stored);
        loaded.set(job.id, stored);
      }
      this.#loadedChanges = await this.#tailOf(tail, loaded);

      // Everything checked: from here on the directory changes, so the clean-shutdown record goes first.
      await this.#makeDirty();
      // Read (or, for a new directory or one written before epochs were kept, minted) before
      // anything is published, so no change is ever shown under another name.
      this.#epoch = epoch ?? (await recordNewLogEpoch(this.dir, this.#fsync));
      for (const { file } of stale) await unlink(join(this.dir, file));
      if (tornTail !== undefined) await this.#cutTornTail(tornTail.path, tornTail.bytes);
      this.#snapshotGeneration = snapshot?.generation;
      this.#generation = live.at(-1)?.generation ?? snapshot?.generation ?? 0;
      this.#journalBytes = journalBytes;
      this.#removedAt = removedAt;
      this.#loaded = true;
      return out;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Appends one line per job and fsyncs. Resolves only when every byte is written and synced;
   * on any failure the journal is cut back to where it ended before, so the caller may retry
   * the same batch.
   */
  append(batch: readonly StoredJob[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    // First, before the journal is touched: result files, the clean-shutdown record, framing.
    return this.#exclusive(async () => this.#writeJournal(await this.#encodeBatch(batch)));
  }

  /**
   * Removes jobs (retention): one framed batch of removal lines (see `RemovalRecord`), written
   * and fsynced like an append, so a crash leaves all of them or none. Once it resolves, `load`
   * skips the jobs and their changes, and the next compaction leaves them out (their large
   * result files become garbage for its sweep).
   */
  remove(removals: readonly JobRemoval[], atSeq: number): Promise<void> {
    if (removals.length === 0) return Promise.resolve();
    return this.#exclusive(async () => {
      await this.#makeDirty();
      const lines = removals.map(({ id, version }) => JSON.stringify({ removed: { id, version }, atSeq }));
      await this.#writeJournal(encodeJournalBatch(lines));
      for (const { id } of removals) this.#results.forget(id);
      this.#removedAt = Math.max(this.#removedAt, atSeq);
    });
  }

  /** Runs journal writes one at a time, in call order. */
  #exclusive(write: () => Promise<void>): Promise<void> {
    const run = this.#writes.then(write, write);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /** Writes one framed batch to the journal and syncs it, or cuts it back and rejects. */
  async #writeJournal(buffer: Buffer): Promise<void> {
    const journal = this.#journal ?? (await this.#openJournal());
    if (this.#journalTorn) {
      // An earlier append failed and so did cutting it back: finish that first.
      await journal.truncate(this.#journalSize);
      this.#journalTorn = false;
    }
    try {
      // A nearly full disk takes part of a write: continue until all of it is written or one fails.
      for (let offset = 0; offset < buffer.length; ) {
        const { bytesWritten } = await journal.write(buffer, offset, buffer.length - offset);
        if (!(bytesWritten > 0)) throw new JobstreamError('STORE_WRITE_STALLED', 'a journal write made no progress');
        offset += bytesWritten;
      }
      // After a failed fsync the page cache cannot be trusted either: cut back and write again.
      if (this.#fsync) await journal.datasync();
    } catch (error) {
      await journal.truncate(this.#journalSize).catch(() => {
        this.#journalTorn = true;
      });
      throw error;
    }
    this.#journalSize += buffer.length;
    this.#journalBytes += buffer.length;
  }

  /**
   * Starts a new journal generation and writes the snapshot of `all` jobs in the background.
   * Large results are referenced, not serialised again (a result without a file yet, e.g. one
   * loaded from format 1, gets one now). Once the snapshot is durable, the journals it covers
   * and the result files nothing refers to any more are removed.
   */
  compact(all: () => Iterable<StoredJob>, changes: () => Iterable<StoredJob> = () => []): Promise<void> {
    if (this.#compaction !== undefined) return this.#compaction;
    // Synchronously, before any later append: switch to a new journal (and capture the log's
    // tail, a ring that moves on). The jobs are read while the snapshot is written, in slices
    // between which appends go on: a job read later may be newer than the switch, which is
    // harmless (its lines are in the new journal too, and the highest version wins on load), and
    // it keeps a compaction of 100,000 jobs from stalling the event loop while it copies them.
    // `changes()` is asked now too; what it returns (a copy of the log's tail) is read in the
    // slices as well.
    const jobs = all();
    const tail = changes();
    const removedAt = this.#removedAt;
    const previous = this.#journal;
    this.#journal = undefined;
    this.#generation += 1;
    this.#journalBytes = 0;
    this.#results.beginGeneration();
    const generation = this.#generation;
    this.#compaction = (async () => {
      try {
        await previous?.close();
        await this.#makeDirty();
        // The new journal exists before the snapshot it continues, so the journals after any
        // snapshot on disk are contiguous (load treats a gap as damage).
        await this.#createJournal(generation);
        const records: StoredRecord[] = [];
        let slice = performance.now();
        for (const stored of jobs) {
          records.push(this.#results.recordNow(stored) ?? (await this.#results.recordWithFile(stored)));
          if (performance.now() - slice > YIELD_AFTER_MS) {
            await yieldToLoop();
            slice = performance.now();
          }
        }
        const changeRecords: StoredRecord[] = [];
        for (const stored of tail) {
          changeRecords.push(this.#results.recordNow(stored) ?? (await this.#results.recordWithFile(stored)));
          if (performance.now() - slice > YIELD_AFTER_MS) {
            await yieldToLoop();
            slice = performance.now();
          }
        }
        await this.#results.flush();
        if (changeRecords.length > this.#keepChanges) changeRecords.splice(0, changeRecords.length - this.#keepChanges);
        this.#db.data = { format: SNAPSHOT_FORMAT, generation, jobs: records, changes: changeRecords, ...(removedAt > 0 ? { removedAt } : {}) };
        await this.#db.write();
        this.#db.data = { format: SNAPSHOT_FORMAT, generation, jobs: [] };
        this.#snapshotGeneration = generation;
        for (const journal of await this.#journals()) {
          if (journal.generation < generation) await unlink(join(this.dir, journal.file));
        }
        await this.#results.sweep();
      } finally {
        this.#compaction = undefined;
      }
    })();
    return this.#compaction;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.#compaction?.catch(() => undefined);
        await this.#journal?.close();
        this.#journal = undefined;
        await this.#recordCleanShutdown();
      } finally {
        await this.#lock.release();
      }
    })();
    return this.#closed;
  }

  /**
   * The collected tail as the log's changes: ascending and contiguous up to the highest seq
   * stored. A version that is its job's latest is the loaded job itself; an older one with a
   * large result reads its file (once per file). A result file that cannot be read ends the
   * tail there (it is only history: the jobs themselves loaded).
   */
  async #tailOf(tail: TailCollector, loaded: ReadonlyMap<string, StoredJob>): Promise<StoredJob[]> {
    const out: StoredJob[] = [];
    const results = new Map<string, JsonValue>();
    for (const { record, from } of tail.newestFirst()) {
      const { job, secret, seq, previousStatus, resultFile } = record;
      if (seq === undefined || previousStatus === undefined) break;
      const latest = loaded.get(job.id);
      if (latest?.job.version === job.version) {
        out.push({ ...latest, seq, previousStatus });
        continue;
      }
      if (resultFile === undefined) {
        out.push({ job, secret, seq, previousStatus });
        continue;
      }
      let result = results.get(resultFile.name);
      if (result === undefined) {
        try {
          result = await this.#results.read(resultFile, job.id, from);
        } catch {
          break;
        }
        results.set(resultFile.name, result);
      }
      out.push({ job: { ...job, result }, secret, seq, previousStatus });
    }
    return out.reverse();
  }

  async #openJournal(): Promise<JournalFile> {
    const handle = await this.#openFile(join(this.dir, journalName(this.#generation)));
    try {
      // `load` cut any torn tail off, so the file ends with a whole line.
      this.#journalSize = (await handle.stat()).size;
      this.#journalTorn = false;
      if (this.#fsync) await syncDirectory(this.dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    this.#journal = handle;
    return handle;
  }

  async #journals(): Promise<{ generation: number; file: string }[]> {
    const out: { generation: number; file: string }[] = [];
    for (const file of await readdir(this.dir)) {
      const match = JOURNAL.exec(file);
      if (match?.[1] !== undefined) out.push({ generation: Number(match[1]), file });
    }
    return out.sort((a, b) => a.generation - b.generation);
  }

  /**
   * The journals to replay must continue the snapshot without a gap: generation `g` of the
   * snapshot, then `g`, `g+1`, … (a compaction creates its journal before its snapshot). Without
   * a snapshot they must start at 0: a later generation means the snapshot that covered the
   * earlier ones is gone, and starting from the journals alone would silently lose those jobs.
   */
  #checkGenerations(snapshotGeneration: number | undefined, live: readonly { generation: number; file: string }[]): void {
    const first = live[0];
    if (first === undefined) return;
    if (snapshotGeneration === undefined && first.generation > 0) {
      throw new StoreCorruptError(
        join(this.dir, SNAPSHOT),
        `it is missing, but ${first.file} continues from generation ${first.generation}: the jobs of the generations before it would be lost`,
      );
    }
    let expected = snapshotGeneration ?? 0;
    for (const { generation, file } of live) {
      if (generation !== expected) throw new StoreCorruptError(join(this.dir, journalName(expected)), `it is missing, but ${file} continues after it`);
      expected += 1;
    }
  }

  /**
   * Removes the clean-shutdown record (durably) before the first change to the directory, so
   * that a crash from here on is never mistaken for a clean shutdown. Once per store.
   */
  #makeDirty(): Promise<void> {
    this.#dirty ??= removeCleanShutdown(this.dir, this.#fsync).catch((error: unknown) => {
      this.#dirty = undefined;
      throw error;
    });
    return this.#dirty;
  }

  /**
   * The bytes `append` writes for `batch`: one framed line per job (see `encodeJournalBatch`).
   * Runs first in `append`, before the journal is opened: removes the clean-shutdown record,
   * and writes (and fsyncs) the files of results over the inline limit, which the lines refer to.
   */
  async #encodeBatch(batch: readonly StoredJob[]): Promise<Buffer> {
    await this.#makeDirty();
    const lines: string[] = [];
    for (const stored of batch) lines.push(JSON.stringify(this.#results.recordNow(stored) ?? (await this.#results.recordWithFile(stored))));
    await this.#results.flush();
    return encodeJournalBatch(lines);
  }

  /** Creates the journal of `generation` (empty) if it does not exist yet, durably. */
  async #createJournal(generation: number): Promise<void> {
    const handle = await open(join(this.dir, journalName(generation)), 'a', 0o600);
    await handle.close();
    if (this.#fsync) await syncDirectory(this.dir);
  }

  /** Cuts a torn last batch off the last journal: it was never acknowledged. */
  async #cutTornTail(path: string, bytes: number): Promise<void> {
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(bytes);
      if (this.#fsync) await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  /**
   * Writes the clean-shutdown record: the snapshot's generation and size and every live
   * journal's length as `close` leaves them. Only after a successful `load` (a store that failed
   * to load keeps the record it found). Best effort: without a record the next start treats
   * this one as a crash, which is safe, only less strict.
   */
  async #recordCleanShutdown(): Promise<void> {
    if (!this.#loaded) return;
    try {
      const first = this.#snapshotGeneration ?? 0;
      const snapshot =
        this.#snapshotGeneration === undefined ? null : { generation: this.#snapshotGeneration, bytes: (await stat(join(this.dir, SNAPSHOT))).size };
      const journals: { file: string; bytes: number }[] = [];
      for (const { generation, file } of await this.#journals()) {
        if (generation >= first) journals.push({ file, bytes: (await stat(join(this.dir, file))).size });
      }
      await writeCleanShutdown(this.dir, { format: 2, snapshot, journals }, this.#fsync);
    } catch {
      // See above: the next start recovers as after a crash.
    }
  }
}
