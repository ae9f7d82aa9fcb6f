import { open, readdir, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { lockDirectory, type DirLock } from './dir-lock.js';
import { StoreCorruptError } from './errors.js';
import { StoredJob, type JobStore } from './job-store.js';
import { describeIssue, SnapshotFile, syncDirectory, type SnapshotData } from './snapshot-file.js';

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
}

const SNAPSHOT = 'jobs.json';
const JOURNAL = /^journal-(\d+)\.jsonl$/;

function journalName(generation: number): string {
  return `journal-${String(generation).padStart(8, '0')}.jsonl`;
}

/**
 * The durable store: a lowdb snapshot file (`jobs.json`) plus an append-only journal
 * (`journal-<generation>.jsonl`) of job states written since.
 *
 * - `append` writes one line per changed job to the journal and fsyncs it: the cost of a commit
 *   depends on the batch, never on how many jobs exist or have finished.
 * - When the journal has grown as large as the snapshot, `compact` starts a new journal
 *   generation and rewrites the snapshot from memory (in chunks, off the hot path); the journals
 *   it covers are deleted afterwards.
 * - `load` reads the snapshot (validated), replays the newer journals in order (the highest
 *   version of a job wins), and cuts off a torn last line, the trace of a crash in mid-append,
 *   which was never acknowledged. Any other damage stops start-up with an error naming the file.
 * - One process owns the directory (`LOCK`).
 */
export class FileStore implements JobStore {
  readonly dir: string;
  readonly #db: Low<SnapshotData>;
  readonly #snapshot: SnapshotFile;
  readonly #lock: DirLock;
  readonly #compactMinBytes: number;
  readonly #fsync: boolean;
  #generation = 0;
  #journal: FileHandle | undefined;
  #journalBytes = 0;
  #compaction: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  private constructor(options: Required<FileStoreOptions>, lock: DirLock) {
    this.dir = options.dir;
    this.#lock = lock;
    this.#compactMinBytes = options.compactMinBytes;
    this.#fsync = options.fsync;
    this.#snapshot = new SnapshotFile(join(options.dir, SNAPSHOT), { fsync: options.fsync });
    this.#db = new Low(this.#snapshot, { format: 1, generation: 0, jobs: [] });
  }

  /** Takes the directory (see {@link lockDirectory}) and returns a store ready to `load`. */
  static async open(options: FileStoreOptions): Promise<FileStore> {
    const lock = await lockDirectory(options.dir);
    return new FileStore(
      { dir: options.dir, compactMinBytes: options.compactMinBytes ?? 1024 * 1024, fsync: options.fsync ?? true },
      lock,
    );
  }

  /** Bytes written to the journal since the last compaction. */
  get journalBytes(): number {
    return this.#journalBytes;
  }

  get wantsCompaction(): boolean {
    return this.#compaction === undefined && this.#journalBytes >= Math.max(this.#compactMinBytes, this.#snapshot.bytes);
  }

  async load(): Promise<StoredJob[]> {
    try {
      await this.#db.read();
      const jobs = new Map<string, StoredJob>();
      for (const stored of this.#db.data.jobs) jobs.set(stored.job.id, stored);
      this.#generation = this.#db.data.generation;

      const journals = await this.#journals();
      let journalBytes = 0;
      for (const { generation, file } of journals) {
        if (generation < this.#generation) {
          // Left behind by a crash between a compaction's rename and its clean-up.
          await unlink(join(this.dir, file));
          continue;
        }
        const isLast = file === journals.at(-1)?.file;
        const { jobs: replayed, bytes } = await this.#readJournal(file, isLast);
        journalBytes += bytes;
        for (const stored of replayed) {
          const known = jobs.get(stored.job.id);
          if (known === undefined || stored.job.version >= known.job.version) jobs.set(stored.job.id, stored);
        }
        this.#generation = generation;
      }
      this.#journalBytes = journalBytes;
      return [...jobs.values()];
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async append(batch: readonly StoredJob[]): Promise<void> {
    if (batch.length === 0) return;
    const journal = this.#journal ?? (await this.#openJournal());
    const text = batch.map((stored) => JSON.stringify(stored)).join('\n') + '\n';
    const buffer = Buffer.from(text);
    await journal.write(buffer);
    if (this.#fsync) await journal.datasync();
    this.#journalBytes += buffer.length;
  }

  compact(all: () => Iterable<StoredJob>): Promise<void> {
    if (this.#compaction !== undefined) return this.#compaction;
    // Synchronously, before any later append: capture the state and switch to a new journal.
    const jobs = Array.from(all());
    const previous = this.#journal;
    this.#journal = undefined;
    this.#generation += 1;
    this.#journalBytes = 0;
    const generation = this.#generation;
    this.#compaction = (async () => {
      try {
        await previous?.close();
        this.#db.data = { format: 1, generation, jobs };
        await this.#db.write();
        for (const journal of await this.#journals()) {
          if (journal.generation < generation) await unlink(join(this.dir, journal.file));
        }
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
      } finally {
        await this.#lock.release();
      }
    })();
    return this.#closed;
  }

  async #openJournal(): Promise<FileHandle> {
    const handle = await open(join(this.dir, journalName(this.#generation)), 'a');
    if (this.#fsync) await syncDirectory(this.dir);
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

  async #readJournal(file: string, isLast: boolean): Promise<{ jobs: StoredJob[]; bytes: number }> {
    const path = join(this.dir, file);
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    const bytes = Buffer.byteLength(text) - Buffer.byteLength(tail);
    if (tail !== '') {
      // A torn last line: the append never finished, so it was never acknowledged.
      if (!isLast) throw new StoreCorruptError(path, `line ${lines.length + 1} is incomplete`);
      await truncate(path, bytes);
    }
    const out: StoredJob[] = [];
    lines.forEach((line, index) => {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        throw new StoreCorruptError(path, `line ${index + 1} is not valid JSON`);
      }
      const parsed = StoredJob.safeParse(raw);
      if (!parsed.success) throw new StoreCorruptError(path, `line ${index + 1}: ${describeIssue(parsed.error)}`);
      out.push(parsed.data);
    });
    return { jobs: out, bytes };
  }
}
