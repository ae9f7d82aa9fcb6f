import type { JobStore, StoredJob } from '../../src/streams/job-store.js';

/**
 * A {@link JobStore} that passes everything to another store and remembers each job's webhook
 * secret as it is written, so a test can build the real webhook token (`<jobId>.<secret>`) of
 * any job, also of poll-only providers, whose tokens never leave the server.
 */
export class SecretRecordingStore implements JobStore {
  readonly #inner: JobStore;
  readonly #secrets = new Map<string, string>();

  constructor(inner: JobStore) {
    this.#inner = inner;
  }

  /** The webhook token of a job, once its record has been written. */
  tokenOf(jobId: string): string {
    const secret = this.#secrets.get(jobId);
    if (secret === undefined) throw new Error(`no secret recorded for ${jobId}`);
    return `${jobId}.${secret}`;
  }

  get wantsCompaction(): boolean {
    return this.#inner.wantsCompaction;
  }

  load(): Promise<StoredJob[]> {
    return this.#inner.load();
  }

  append(batch: readonly StoredJob[]): Promise<void> {
    for (const { job, secret } of batch) this.#secrets.set(job.id, secret);
    return this.#inner.append(batch);
  }

  compact(all: () => Iterable<StoredJob>): Promise<void> {
    return this.#inner.compact(all);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
