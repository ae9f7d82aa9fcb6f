import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultDownload, ResultFile } from './provider-port.js';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import { ProviderError } from './errors.js';
import type { JobArtifacts, JobSnapshot } from './job-snapshot.js';

/** Options of {@link ResultCopier}. */
export interface ResultCopierOptions {
  /** Root of the copies: `<dir>/<jobId>/<file name>`. */
  dir: string;
  /** The files a succeeded job offers. */
  files: (job: JobSnapshot) => ResultFile[];
  /** Opens one of them at the provider. */
  open: (job: JobSnapshot, name: string, signal: AbortSignal) => Promise<ResultDownload>;
  /** Records the outcome on the job (called once per job, with `complete` or `failed`). */
  record: (jobId: string, artifacts: JobArtifacts) => void;
  /** Attempts per file before giving up. @default 5 */
  attempts?: number;
  /** Backoff between attempts, full jitter. @default { initialMs: 1000, maxMs: 60000 } */
  backoff?: BackoffPolicy;
  /** Jobs copied at the same time. @default 2 */
  concurrency?: number;
}

/**
 * Copies the result files of succeeded jobs into the data directory, as its own step after the
 * job succeeded: downloads stream to `<name>.part` and are renamed into place when complete, and
 * a failed download is retried with full-jitter backoff (a refusal, `rejected` or
 * `unauthorized`, is not). The outcome is recorded on the job's snapshot through `record`.
 */
export class ResultCopier {
  readonly #options: Required<ResultCopierOptions>;
  readonly #queue: JobSnapshot[] = [];
  readonly #queued = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();

  constructor(options: ResultCopierOptions) {
    this.#options = { attempts: 5, backoff: { initialMs: 1000, maxMs: 60_000 }, concurrency: 2, ...options };
    setMaxListeners(0, this.#abort.signal);
  }

  /** Where a job's copy of `name` lives (whether or not it exists yet). */
  pathOf(jobId: string, name: string): string {
    return join(this.#options.dir, jobId, safeName(name));
  }

  /** Queues a job whose artifacts are `pending`. Queuing a job twice does nothing. */
  enqueue(job: JobSnapshot): void {
    if (this.#abort.signal.aborted || this.#queued.has(job.id)) return;
    this.#queued.add(job.id);
    this.#queue.push(job);
    this.#next();
  }

  /** Stops copying; unfinished jobs stay `pending` and are picked up again at the next start. */
  async close(): Promise<void> {
    this.#abort.abort();
    this.#queue.length = 0;
    await Promise.allSettled([...this.#running]);
  }

  #next(): void {
    while (this.#running.size < this.#options.concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift() as JobSnapshot;
      const run = this.#copyJob(job).finally(() => {
        this.#running.delete(run);
        this.#queued.delete(job.id);
        this.#next();
      });
      this.#running.add(run);
    }
  }

  async #copyJob(job: JobSnapshot): Promise<void> {
    const files: JobArtifacts['files'] = [];
    try {
      await mkdir(join(this.#options.dir, job.id), { recursive: true, mode: 0o700 });
      for (const file of this.#options.files(job)) {
        files.push({ name: file.name, contentType: file.contentType, bytes: await this.#copyFile(job, file) });
      }
    } catch (error) {
      // Closing leaves the job pending for the next start; anything else is a final failure.
      if (this.#abort.signal.aborted) return;
      this.#options.record(job.id, { state: 'failed', files, error: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.#options.record(job.id, { state: 'complete', files, error: null });
  }

  async #copyFile(job: JobSnapshot, file: ResultFile): Promise<number> {
    const target = this.pathOf(job.id, file.name);
    const partial = `${target}.part`;
    const signal = this.#abort.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        const download = await untilAborted(this.#options.open(job, file.name, signal), signal);
        await pipeline(download.body, createWriteStream(partial, { mode: 0o600 }), { signal });
        await rename(partial, target);
        return (await stat(target)).size;
      } catch (error) {
        await rm(partial, { force: true });
        const final = error instanceof ProviderError && (error.failure === 'rejected' || error.failure === 'unauthorized');
        if (signal.aborted || final || attempt >= this.#options.attempts) {
          throw new Error(`${file.name}: ${error instanceof Error ? error.message : String(error)} (after ${attempt} attempt${attempt > 1 ? 's' : ''})`, {
            cause: error,
          });
        }
        await sleep(fullJitter(attempt, this.#options.backoff, Math.random), undefined, { signal });
      }
    }
  }
}

/** Settles with `work`, or rejects as soon as `signal` aborts (close never waits on a provider). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new Error('result copying stopped', { cause: signal.reason }));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** A file name that cannot leave its directory. */
function safeName(name: string): string {
  const cleaned = name.replace(/[/\\\0]/g, '_').replace(/^\.+/, '_');
  return cleaned === '' ? '_' : cleaned;
}
