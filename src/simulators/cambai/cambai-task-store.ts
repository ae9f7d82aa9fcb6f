import { randomBytes, randomUUID } from 'node:crypto';
import type { FaultProfile } from '../kit/fault-profile.js';
import type { TimelineStep } from '../kit/job-timeline.js';
import { planTimeline, stepAt } from '../kit/job-timeline.js';
import type { Random } from '../kit/seeded-random.js';
import { pick } from '../kit/seeded-random.js';
import type { CambaiTaskStatusResponse, CambaiTranscriptSegment } from './cambai-schemas.js';
import type { CambaiTaskState } from './cambai-task-state.js';
import { generateTranscript } from './cambai-transcript.js';

/** Media types Camb.ai documents as accepted for transcription. */
export const ACCEPTED_EXTENSIONS: ReadonlySet<string> = new Set(['mp3', 'wav', 'aac', 'flac', 'mp4', 'mov', 'mxf']);

type Phase = 'PENDING' | 'DONE';

/** Pending time at speed 1 (ms): a task ends within about 9 s. */
const PHASES: { status: Phase; minMs: number; maxMs: number }[] = [
  { status: 'PENDING', minMs: 3000, maxMs: 9000 },
  { status: 'DONE', minMs: 0, maxMs: 0 },
];

/** How a task ends. */
export type TaskEnding =
  | { status: 'SUCCESS' }
  | { status: 'ERROR' | 'TIMEOUT' | 'PAYMENT_REQUIRED'; exception_reason: string | null; message: string };

/** The media of a validated create request. */
export type TaskMedia = { kind: 'file'; filename: string; size: number } | { kind: 'url'; url: string };

interface TaskRecord {
  readonly taskId: string;
  readonly runId: number;
  readonly timeline: TimelineStep<Phase>[];
  readonly ending: TaskEnding;
  readonly transcript: CambaiTranscriptSegment[];
  readonly fileSignature: string;
}

/** Options of {@link CambaiTaskStore}. */
export interface CambaiTaskStoreOptions {
  random: Random;
  now: () => number;
  speed: number;
  faults: () => FaultProfile;
}

/** Random failures: ERROR 60 %, TIMEOUT 20 %, PAYMENT_REQUIRED 20 %. */
const FAILURES: readonly [TaskEnding, ...TaskEnding[]] = [
  { status: 'ERROR', exception_reason: 'PROCESSING_ERROR', message: 'Transcription failed while processing the audio.' },
  { status: 'ERROR', exception_reason: 'INTERNAL_ERROR', message: 'An internal error occurred. Please try again later.' },
  { status: 'ERROR', exception_reason: 'INVALID_SOURCE_DATA', message: 'The media could not be decoded.' },
  { status: 'TIMEOUT', exception_reason: null, message: 'The task exceeded its processing time limit.' },
  { status: 'PAYMENT_REQUIRED', exception_reason: 'PAYMENT_REQUIRED', message: 'Insufficient credits to run this task.' },
];

/**
 * The simulated transcription tasks. Everything is decided when a task is created (its
 * pending time, its ending, its run id and transcript) and the status is derived from the
 * clock on every read, so an injected clock drives it completely.
 *
 * @example
 * const taskId = store.create({ kind: 'url', url: 'https://example.com/a.mp3' });
 * store.status(taskId)?.status; // 'PENDING'
 */
export class CambaiTaskStore {
  readonly #opts: CambaiTaskStoreOptions;
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #runs = new Map<number, TaskRecord>();
  #nextRunId: number;

  constructor(opts: CambaiTaskStoreOptions) {
    this.#opts = opts;
    this.#nextRunId = 10_000 + Math.floor(opts.random() * 90_000);
  }

  /** Creates a task for validated media and returns its `task_id`. */
  create(media: TaskMedia): string {
    const { random, now, speed } = this.#opts;
    const timeline = planTimeline({ startedAt: now(), speed, random, steps: PHASES });
    // Every draw happens for every task, so one task's media never shifts another task's luck.
    const fails = random() < this.#opts.faults().jobFailureRate;
    const failure = pick(random, FAILURES);
    const transcript = generateTranscript(random);
    const mediaProblem = checkMedia(media);
    const record: TaskRecord = {
      taskId: randomUUID(),
      runId: this.#nextRunId++,
      timeline,
      ending: mediaProblem ?? (fails ? failure : { status: 'SUCCESS' }),
      transcript,
      fileSignature: randomBytes(16).toString('hex'),
    };
    this.#tasks.set(record.taskId, record);
    this.#runs.set(record.runId, record);
    return record.taskId;
  }

  /** The answer of `GET /transcribe/{task_id}`, or `undefined` for an unknown task. */
  status(taskId: string): CambaiTaskStatusResponse | undefined {
    const record = this.#tasks.get(taskId);
    if (record === undefined) return undefined;
    if (!this.#done(record)) return { status: 'PENDING', run_id: null, exception_reason: null, message: null };
    const { ending } = record;
    if (ending.status === 'SUCCESS') return { status: 'SUCCESS', run_id: record.runId, exception_reason: null, message: null };
    return { status: ending.status, run_id: null, exception_reason: ending.exception_reason, message: ending.message };
  }

  /** The transcript of a run whose task succeeded, else `undefined`. */
  transcript(runId: number): CambaiTranscriptSegment[] | undefined {
    const record = this.#runs.get(runId);
    if (record === undefined || record.ending.status !== 'SUCCESS' || !this.#done(record)) return undefined;
    return record.transcript;
  }

  /** The signature that a run's transcript-file URL carries, for a finished successful run. */
  fileSignature(runId: number): string | undefined {
    return this.transcript(runId) === undefined ? undefined : this.#runs.get(runId)?.fileSignature;
  }

  /** What the simulator decided for a task at creation, or `undefined` for an unknown task. */
  outcome(taskId: string): 'succeeded' | 'failed' | undefined {
    const record = this.#tasks.get(taskId);
    if (record === undefined) return undefined;
    return record.ending.status === 'SUCCESS' ? 'succeeded' : 'failed';
  }

  /** Every task in creation order and the next run id, as the state file keeps them. */
  save(): { nextRunId: number; tasks: CambaiTaskState[] } {
    const tasks = [...this.#tasks.values()].map((record) => ({ ...record, timeline: [...record.timeline] }));
    return { nextRunId: this.#nextRunId, tasks };
  }

  /** Takes back the tasks of a state file (call before serving). */
  restore(saved: { nextRunId: number; tasks: readonly CambaiTaskState[] }): void {
    for (const record of saved.tasks) {
      this.#tasks.set(record.taskId, record);
      this.#runs.set(record.runId, record);
    }
    this.#nextRunId = saved.nextRunId;
  }

  #done(record: TaskRecord): boolean {
    return stepAt(record.timeline, this.#opts.now()).status === 'DONE';
  }
}

/**
 * Media the service would reject while processing: an empty upload, or a file name or URL
 * path whose extension is not an accepted media type. A name without extension is accepted;
 * URLs are never fetched.
 */
function checkMedia(media: TaskMedia): TaskEnding | undefined {
  if (media.kind === 'file' && media.size === 0) {
    return { status: 'ERROR', exception_reason: 'INVALID_SOURCE_DATA', message: 'The uploaded media file is empty.' };
  }
  let name = media.kind === 'file' ? media.filename : media.url;
  if (media.kind === 'url') {
    try {
      name = new URL(media.url).pathname;
    } catch {
      return { status: 'ERROR', exception_reason: 'ERROR_DOWNLOADING_SOURCE', message: 'The media URL could not be parsed.' };
    }
  }
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const extension = dot <= 0 ? undefined : base.slice(dot + 1).toLowerCase();
  if (extension !== undefined && !ACCEPTED_EXTENSIONS.has(extension)) {
    return {
      status: 'ERROR',
      exception_reason: 'SOURCE_TYPE_NOT_SUPPORTED',
      message: `Media type ".${extension}" is not supported; use mp3, wav, aac, flac, mp4, mov or mxf.`,
    };
  }
  return undefined;
}
