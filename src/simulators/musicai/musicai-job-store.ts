import { randomBytes, randomUUID } from 'node:crypto';
import type { FaultProfile } from '../kit/fault-profile.js';
import type { TimelineStep } from '../kit/job-timeline.js';
import { planTimeline, stepAt } from '../kit/job-timeline.js';
import type { Random } from '../kit/seeded-random.js';
import { pick } from '../kit/seeded-random.js';
import type { InputVerdict } from './musicai-input-check.js';
import { checkInputLocally, jobError, probeInput } from './musicai-input-check.js';
import { copyToCustomStorage, resultFile, scalarValue } from './musicai-results.js';
import type { ResultFile } from './musicai-results.js';
import type {
  MusicaiJob,
  MusicaiJobError,
  MusicaiJobErrorCode,
  MusicaiJobStatus,
  MusicaiMetadata,
} from './musicai-schemas.js';
import { MUSICAI_CUSTOM_STORAGE } from './musicai-schemas.js';
import type { MusicaiJobState, MusicaiJobStateInput } from './musicai-state.js';
import type { UploadSlots } from './musicai-upload-slots.js';
import { workflowInputs, type MusicaiWorkflowSpec } from './musicai-workflows.js';

/** Path prefix of result files on the simulator (outside `/v1`, like a CDN). */
export const RESULTS_PATH = '/storage/results';

type Phase = 'QUEUED' | 'STARTED' | 'DONE';

/** Phase durations at speed 1 (ms): a job is done within about 9 s. */
const PHASES: { status: Phase; minMs: number; maxMs: number }[] = [
  { status: 'QUEUED', minMs: 500, maxMs: 2000 },
  { status: 'STARTED', minMs: 2000, maxMs: 7000 },
  { status: 'DONE', minMs: 0, maxMs: 0 },
];

/** A validated create request, as the routes hand it to the store. */
export interface NewJob {
  name: string;
  workflow: MusicaiWorkflowSpec;
  /** The workflow's params; those named by `workflowInputs(workflow)` are http(s) URLs. */
  params: Record<string, unknown>;
  metadata: MusicaiMetadata;
  batchName: string | null;
  copyResultsTo: Record<string, string>;
}

interface JobRecord extends NewJob {
  readonly id: string;
  readonly createdAt: number;
  readonly timeline: TimelineStep<Phase>[];
  readonly resultSignature: string;
  readonly bpm: number;
  /** A failure drawn from `jobFailureRate` at creation, applied unless the input fails first. */
  readonly drawnFailure: MusicaiJobError | null;
  /** The input verdict; `undefined` while a loopback input is being probed. */
  input: { verdict: InputVerdict; at: number } | undefined;
  /** Progress of the `copyResultsTo` uploads, started when processing ends. */
  copy: { state: 'running' } | { state: 'done'; at: number; error: MusicaiJobError | null } | undefined;
}

interface JobState {
  status: MusicaiJobStatus;
  error: MusicaiJobError | null;
  completedAt: number | null;
}

/** Options of {@link MusicaiJobStore}. */
export interface MusicaiJobStoreOptions {
  random: Random;
  now: () => number;
  speed: number;
  faults: () => FaultProfile;
  slots: UploadSlots;
  /** The simulator's base URL (known once it listens). */
  baseUrl: () => string;
  /** The application name shown in `job.app`. */
  appName: string;
}

/**
 * The simulated Music.AI jobs. A job advances on the clock (QUEUED → STARTED → SUCCEEDED |
 * FAILED); everything else is decided when it is created: its timeline, a failure drawn from
 * `jobFailureRate`, and whether its input is readable. Side effects that the real service
 * performs when a job ends (copying outputs to `copyResultsTo`) start at the first read after
 * processing ends, and the job reads STARTED until they are done; so no timer runs and an
 * injected clock drives everything.
 *
 * @example
 * const id = store.create(newJob);
 * store.get(id)?.status; // 'QUEUED'
 */
export class MusicaiJobStore {
  readonly #opts: MusicaiJobStoreOptions;
  readonly #jobs = new Map<string, JobRecord>();
  /** Deleted jobs are kept here only so that `outcome` still answers for them. */
  readonly #deleted = new Map<string, JobRecord>();

  constructor(opts: MusicaiJobStoreOptions) {
    this.#opts = opts;
  }

  /** Creates a job and returns its id. */
  create(job: NewJob): string {
    const { random, now, speed } = this.#opts;
    const createdAt = now();
    const timeline = planTimeline({ startedAt: createdAt, speed, random, steps: PHASES });
    // Every draw happens for every job, so one job's input never shifts another job's luck.
    const fails = random() < this.#opts.faults().jobFailureRate;
    const code = pick(random, ['BAD_INPUT', 'TIMEOUT', 'INTERNAL_ERROR'] as const);
    const bpm = Math.round(80 + 80 * random());
    const record: JobRecord = {
      ...job,
      id: randomUUID(),
      createdAt,
      timeline,
      resultSignature: randomBytes(16).toString('hex'),
      bpm,
      drawnFailure: fails ? jobError(code, drawnFailureMessages[code]) : null,
      input: undefined,
      copy: undefined,
    };
    // Every input is checked; the first unreadable one fails the job, loopback ones are probed.
    const urls = workflowInputs(job.workflow).map((name) => String(job.params[name]));
    const local = urls.map((url) => checkInputLocally(url, this.#opts.slots));
    const bad = local.find((verdict): verdict is MusicaiJobError => verdict !== null && verdict !== 'needs-probe');
    if (bad !== undefined) record.input = { verdict: bad, at: createdAt };
    else if (local.includes('needs-probe')) this.#probe(record, urls.filter((_url, i) => local[i] === 'needs-probe'));
    else record.input = { verdict: null, at: createdAt };
    this.#jobs.set(record.id, record);
    return record.id;
  }

  /** Every job, live ones oldest first, then deleted ones, as the state file keeps them. */
  save(): MusicaiJobStateInput[] {
    const state = ({ workflow, timeline, input, copy, ...record }: JobRecord, deleted: boolean): MusicaiJobStateInput => ({
      ...record,
      workflow: workflow.slug,
      timeline: [...timeline],
      input: input ?? null,
      copy: copy?.state === 'done' ? { at: copy.at, error: copy.error } : null,
      deleted,
    });
    return [...[...this.#jobs.values()].map((r) => state(r, false)), ...[...this.#deleted.values()].map((r) => state(r, true))];
  }

  /**
   * Takes back the jobs of a state file (call before serving). An input that was still being
   * probed at close is probed again; `copyResultsTo` uploads that had not finished run again
   * at the first read after the job is done.
   */
  restore(saved: readonly MusicaiJobState[]): void {
    for (const { deleted, input, copy, ...job } of saved) {
      const record: JobRecord = { ...job, input: input ?? undefined, copy: copy === null ? undefined : { state: 'done', ...copy } };
      (deleted ? this.#deleted : this.#jobs).set(record.id, record);
      if (input === null) this.#probe(record, workflowInputs(record.workflow).map((name) => String(record.params[name])));
    }
  }

  /** The job object, or `undefined` when there is no such job. */
  get(id: string): MusicaiJob | undefined {
    const record = this.#jobs.get(id);
    return record === undefined ? undefined : this.#view(record);
  }

  /** All jobs in creation order, as job objects. */
  all(): MusicaiJob[] {
    return [...this.#jobs.values()].map((record) => this.#view(record));
  }

  /** Deletes a job; `false` when there was none. */
  delete(id: string): boolean {
    const record = this.#jobs.get(id);
    if (record === undefined) return false;
    this.#jobs.delete(id);
    this.#deleted.set(id, record);
    return true;
  }

  /**
   * What the simulator decided for a job (also after it was deleted): `undefined` for an
   * unknown id or while a loopback input is still being probed. A job with `copyResultsTo`
   * reads `'succeeded'` until a copy fails.
   */
  outcome(id: string): 'succeeded' | 'failed' | undefined {
    const record = this.#jobs.get(id) ?? this.#deleted.get(id);
    if (record?.input === undefined) return undefined;
    if (record.input.verdict !== null || record.drawnFailure !== null) return 'failed';
    if (record.copy?.state === 'done' && record.copy.error !== null) return 'failed';
    return 'succeeded';
  }

  /** A result file of a succeeded job, checked against the URL's signature. */
  file(id: string, fileName: string, signature: string | undefined): ResultFile | undefined {
    const record = this.#jobs.get(id);
    if (record === undefined || signature !== record.resultSignature) return undefined;
    if (this.#state(record).status !== 'SUCCEEDED') return undefined;
    const outputName = fileName.slice(0, fileName.lastIndexOf('.'));
    const output = record.workflow.outputs.find((o) => o.name === outputName);
    if (output === undefined || record.copyResultsTo[output.name] !== undefined) return undefined;
    const file = resultFile(output, record.bpm);
    return file !== undefined && fileName === `${output.name}.${file.extension}` ? file : undefined;
  }

  #view(record: JobRecord): MusicaiJob {
    const state = this.#state(record);
    const started = record.timeline[1];
    return {
      id: record.id,
      app: this.#opts.appName,
      name: record.name,
      batchName: record.batchName,
      metadata: record.metadata,
      workflow: record.workflow.slug,
      workflowParams: record.params,
      status: state.status,
      result: state.status === 'SUCCEEDED' ? this.#result(record) : null,
      error: state.error,
      createdAt: iso(record.createdAt),
      startedAt: state.status !== 'QUEUED' && started !== undefined ? iso(started.atMs) : null,
      completedAt: state.completedAt === null ? null : iso(state.completedAt),
    };
  }

  #state(record: JobRecord): JobState {
    const now = this.#opts.now();
    const step = stepAt(record.timeline, now);
    if (step.status !== 'DONE' || record.input === undefined) {
      return { status: step.status === 'QUEUED' ? 'QUEUED' : 'STARTED', error: null, completedAt: null };
    }
    const doneAt = Math.max(step.atMs, record.input.at);
    const failure = record.input.verdict ?? record.drawnFailure;
    if (failure !== null) return { status: 'FAILED', error: failure, completedAt: doneAt };
    if (Object.keys(record.copyResultsTo).length === 0) return { status: 'SUCCEEDED', error: null, completedAt: doneAt };
    if (record.copy === undefined) this.#startCopy(record);
    if (record.copy?.state !== 'done') return { status: 'STARTED', error: null, completedAt: null };
    const { error, at } = record.copy;
    return { status: error === null ? 'SUCCEEDED' : 'FAILED', error, completedAt: at };
  }

  #result(record: JobRecord): Record<string, string> {
    const result: Record<string, string> = {};
    const base = `${this.#opts.baseUrl()}${RESULTS_PATH}/${record.id}`;
    for (const output of record.workflow.outputs) {
      const file = resultFile(output, record.bpm);
      if (record.copyResultsTo[output.name] !== undefined) result[output.name] = MUSICAI_CUSTOM_STORAGE;
      else if (file === undefined) result[output.name] = scalarValue(output, record.bpm);
      else result[output.name] = `${base}/${output.name}.${file.extension}?signature=${record.resultSignature}`;
    }
    return result;
  }

  #probe(record: JobRecord, urls: readonly string[]): void {
    void Promise.all(urls.map((url) => probeInput(url))).then((verdicts) => {
      record.input = { verdict: verdicts.find((verdict) => verdict !== null) ?? null, at: this.#opts.now() };
    });
  }

  #startCopy(record: JobRecord): void {
    record.copy = { state: 'running' };
    const copies = Object.entries(record.copyResultsTo).map(async ([name, url]) => {
      const output = record.workflow.outputs.find((o) => o.name === name);
      const file = output === undefined ? undefined : resultFile(output, record.bpm);
      const bytes = file ?? {
        bytes: Buffer.from(output === undefined ? '' : scalarValue(output, record.bpm)),
        contentType: 'text/plain',
        extension: 'txt',
      };
      const failure = await copyToCustomStorage(url, bytes);
      return failure === null ? null : `${name}: ${failure}`;
    });
    void Promise.all(copies).then((failures) => {
      const failed = failures.filter((f): f is string => f !== null);
      const error =
        failed.length === 0 ? null : jobError('INTERNAL_ERROR', `Could not write results to custom storage (${failed.join('; ')}).`);
      record.copy = { state: 'done', at: this.#opts.now(), error };
    });
  }
}

const drawnFailureMessages: Record<MusicaiJobErrorCode, string> = {
  BAD_INPUT: 'The input file is corrupted or has an invalid format.',
  TIMEOUT: 'Timeout reading the input file. Check that the server is reachable and the file is still available.',
  INTERNAL_ERROR: 'Our server encountered an error while running the job. Please try again.',
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
