import { createWriteStream } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { JobInput, ResultDownload, ResultFile } from './provider-port.js';
import type { SubmitRequest } from './engine-requests.js';
import { InvalidRequestError, JobstreamError } from './errors.js';
import { isSettled } from './job-reducer.js';
import type { JobLink, JobSnapshot, JsonValue } from './job-snapshot.js';
import { isTerminal } from './job-status.js';
import type { JobEntry } from './job-table.js';

/** What {@link WaitingJobs} needs from the engine. */
export interface WaitingJobsHost {
  entry(id: string): JobEntry | undefined;
  published(id: string): JobSnapshot | undefined;
  resultFiles(id: string): ResultFile[];
  /** The kept copy of a result file, when there is one. */
  localCopy(job: JobSnapshot, name: string): string | undefined;
  download(job: JobSnapshot, name: string): Promise<ResultDownload>;
  /** Marks the step started (durably) and hands it to its provider. */
  start(entry: JobEntry, input: JobInput | undefined, options: Record<string, JsonValue>): Promise<void>;
  fail(entry: JobEntry, code: string, message: string): void;
  closing(): boolean;
  report(error: unknown): void;
}

/**
 * Jobs that wait for other jobs (a pipeline step, see {@link JobLink}). A waiting job starts when
 * the job it waits for has settled and succeeded, with that job's result file as input or its
 * external id in an option; otherwise it fails with `UPSTREAM_FAILED` and the reason.
 *
 * @example
 * const waiting = new WaitingJobs(host);
 * const after = waiting.link({ jobId: separation.id, inputFrom: 'vocals.wav' }, undefined);
 * await waiting.wait(entry); // starts now if the upstream job has settled, or when it does
 */
export class WaitingJobs {
  readonly #host: WaitingJobsHost;
  /** Upstream id → ids of the steps waiting for it. */
  readonly #waiting = new Map<string, Set<string>>();

  constructor(host: WaitingJobsHost) {
    this.#host = host;
  }

  /** Checks a requested link against the job it names; the link to record on the new job. */
  link(after: NonNullable<SubmitRequest['after']>, input: JobInput | undefined): JobLink {
    if (this.#host.published(after.jobId) === undefined) {
      throw new InvalidRequestError([{ field: 'after.jobId', reason: `no job "${after.jobId}"` }]);
    }
    if (input?.type === 'file') {
      throw new InvalidRequestError([{ field: 'input', reason: 'a job that waits for another takes a URL, or its input from that job (after.inputFrom)' }]);
    }
    if (input !== undefined && after.inputFrom !== undefined) {
      throw new InvalidRequestError([{ field: 'after.inputFrom', reason: 'give either an input or after.inputFrom, not both' }]);
    }
    return {
      jobId: after.jobId,
      inputFrom: after.inputFrom ?? null,
      externalIdOption: after.externalIdOption ?? null,
      input: input?.type === 'url' ? input : null,
      startedAt: null,
    };
  }

  /** Starts a waiting step now if its upstream job has settled, or when it does. */
  async wait(entry: JobEntry): Promise<void> {
    const link = entry.current.after as JobLink;
    const upstream = this.#host.published(link.jobId);
    if (upstream !== undefined && isSettled(upstream)) return this.#start(entry);
    let waiting = this.#waiting.get(link.jobId);
    if (waiting === undefined) this.#waiting.set(link.jobId, (waiting = new Set()));
    waiting.add(entry.current.id);
  }

  /** The job settled: starts (or fails) every step waiting for it. */
  release(upstreamId: string): void {
    const waiting = this.#waiting.get(upstreamId);
    if (waiting === undefined) return;
    this.#waiting.delete(upstreamId);
    for (const id of waiting) {
      const entry = this.#host.entry(id);
      if (entry !== undefined) this.#start(entry).catch((error: unknown) => this.#host.report(error));
    }
  }

  async #start(entry: JobEntry): Promise<void> {
    const job = entry.current;
    const link = job.after as JobLink;
    if (isTerminal(job.status) || link.startedAt !== null || this.#host.closing()) return;
    const upstream = this.#host.published(link.jobId);
    if (upstream?.status !== 'succeeded') {
      const why = upstream === undefined ? 'is unknown' : `${upstream.status}${upstream.error === null ? '' : ` (${upstream.error.code}: ${upstream.error.message})`}`;
      return this.#host.fail(entry, 'UPSTREAM_FAILED', `job ${link.jobId} ${why}`);
    }
    const options = link.externalIdOption === null ? job.options : { ...job.options, [link.externalIdOption]: upstream.externalId };
    let input: JobInput | undefined = link.input ?? undefined;
    let scratch: string | undefined;
    try {
      if (link.inputFrom !== null) ({ input, scratch } = await this.#inputFrom(upstream, link.inputFrom));
      await this.#host.start(entry, input, options);
    } catch (error) {
      // Only a failure before the step was handed over is the upstream result's fault.
      if (entry.current.after?.startedAt === null) {
        this.#host.fail(entry, 'UPSTREAM_RESULT_UNAVAILABLE', `result "${link.inputFrom}" of job ${link.jobId}: ${error instanceof Error ? error.message : String(error)}`);
      }
    } finally {
      if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    }
  }

  /** A result file of a succeeded job as a local file: its kept copy, or a download to a scratch directory. */
  async #inputFrom(upstream: JobSnapshot, name: string): Promise<{ input: JobInput; scratch?: string }> {
    const files = this.#host.resultFiles(upstream.id);
    const file = files.find((f) => f.name === name);
    if (file === undefined) throw new JobstreamError('UNKNOWN_RESULT', `no such file (files: ${files.map((f) => f.name).join(', ') || 'none'})`);
    const copy = this.#host.localCopy(upstream, name);
    if (copy !== undefined && (await access(copy).then(() => true, () => false))) {
      return { input: { type: 'file', path: copy, filename: name, contentType: file.contentType } };
    }
    const scratch = await mkdtemp(join(tmpdir(), 'jobstream-step-'));
    const path = join(scratch, 'input');
    const download = await this.#host.download(upstream, name);
    await pipeline(download.body, createWriteStream(path));
    return { input: { type: 'file', path, filename: name, contentType: download.contentType }, scratch };
  }
}
