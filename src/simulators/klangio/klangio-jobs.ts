import { z } from 'zod';
import type { TimelineStep } from '../kit/job-timeline.js';
import { planTimeline, stepAt } from '../kit/job-timeline.js';
import { hexId, pick } from '../kit/seeded-random.js';
import type { JobModelOptions } from '../kit/simulator.js';
import { WebhookUrlError } from '../kit/webhook-sender.js';
import { driftsFor, producedOutputs } from './klangio-output-flags.js';
import type { KlangioJobState } from './klangio-job-state.js';
import type { KlangioJobKind, KlangioOutput, KlangioSeparationModel, KlangioVocabulary } from '../../providers/klangio/klangio-schemas.js';

export { KlangioJobKind } from '../../providers/klangio/klangio-schemas.js';

/** Statuses the simulator emits. */
export const KlangioSimStatus = z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED']);
export type KlangioSimStatus = z.infer<typeof KlangioSimStatus>;

/** What a create request asked for. */
export interface KlangioJobSpec {
  kind: KlangioJobKind;
  webhookUrl?: string;
  model?: string;
  title?: string;
  composer?: string;
  outputs?: ReadonlySet<KlangioOutput>;
  vocabulary?: KlangioVocabulary;
  separationModel?: KlangioSeparationModel;
  audioFormat?: 'wav' | 'mp3';
}

/**
 * A simulated job: its request, planned timeline and decided outcome. Its `outputs` are the ones
 * it produces (and its create answer flags), which may differ from the request.
 */
export interface KlangioJob extends KlangioJobSpec {
  readonly id: string;
  readonly createdAt: number;
  readonly timeline: readonly TimelineStep<KlangioSimStatus>[];
  readonly outcome: 'succeeded' | 'failed';
  /** The error text shown on the status answer of a FAILED job. */
  readonly error?: string;
  /** Seed of the job's own random source, so results are the same on every fetch. */
  readonly resultSeed: number;
}

/** Failure reasons the simulator puts in the status answer's `error` field. */
export const KLANGIO_ERRORS = [
  'Audio file could not be decoded',
  'No musical content detected in audio',
  'Audio file exceeds the maximum duration',
  'Processing timed out',
] as const;

/** Options of {@link KlangioJobs}. */
export interface KlangioJobsOptions extends JobModelOptions {
  /**
   * Probability that a transcription produces other outputs than it asked for (see
   * `producedOutputs`), decided per job from its seed. @default 0
   */
  outputFlagDriftRate?: number;
}

/**
 * The simulator's job table: plans each job's IN_QUEUE → IN_PROGRESS → COMPLETED | FAILED
 * timeline at creation and sends `{ job_id, status }` to the job's webhook when it enters
 * IN_PROGRESS and when it ends.
 */
export class KlangioJobs {
  readonly #opts: KlangioJobsOptions;
  readonly #jobs = new Map<string, KlangioJob>();

  constructor(opts: KlangioJobsOptions) {
    this.#opts = opts;
  }

  /** Creates a job and schedules its webhooks. */
  create(spec: KlangioJobSpec): KlangioJob {
    const { random, speed, now } = this.#opts;
    const failed = random() < this.#opts.faults().jobFailureRate;
    const createdAt = now();
    const timeline = planTimeline<KlangioSimStatus>({
      startedAt: createdAt,
      speed,
      random,
      steps: [
        { status: 'IN_QUEUE', minMs: 500, maxMs: 2000 },
        { status: 'IN_PROGRESS', minMs: 2000, maxMs: 6000 },
        { status: failed ? 'FAILED' : 'COMPLETED', minMs: 0, maxMs: 0 },
      ],
    });
    const id = this.#newId();
    // Drawn in this order (error, then seed), as always: a seed means the same jobs as before.
    const error = failed ? pick(random, KLANGIO_ERRORS) : undefined;
    const resultSeed = Math.floor(random() * 2 ** 32);
    const drift = driftsFor(resultSeed, this.#opts.outputFlagDriftRate ?? 0);
    const job: KlangioJob = {
      ...spec,
      ...(spec.outputs === undefined ? {} : { outputs: producedOutputs(spec.outputs, drift) }),
      id,
      createdAt,
      timeline,
      outcome: failed ? 'failed' : 'succeeded',
      ...(error === undefined ? {} : { error }),
      resultSeed,
    };
    this.#jobs.set(job.id, job);
    if (spec.webhookUrl !== undefined) this.#scheduleWebhooks(job, spec.webhookUrl, createdAt);
    return job;
  }

  /** The job with this id, or `undefined`. */
  get(id: string): KlangioJob | undefined {
    return this.#jobs.get(id);
  }

  /** The job's status now. */
  status(job: KlangioJob): KlangioSimStatus {
    return stepAt(job.timeline, this.#opts.now()).status;
  }

  /** Every job in creation order, as the state file keeps them. */
  save(): KlangioJobState[] {
    return [...this.#jobs.values()].map(({ outputs, timeline, ...job }) => ({
      ...job,
      ...(outputs === undefined ? {} : { outputs: [...outputs] }),
      timeline: [...timeline],
    }));
  }

  /**
   * Takes back jobs from a state file (call before serving). Each job's webhooks for the
   * changes still ahead of the clock are scheduled again; changes that happened while the
   * simulator was down are not sent (the client finds them by polling).
   */
  restore(saved: readonly KlangioJobState[]): void {
    const now = this.#opts.now();
    for (const { outputs, ...state } of saved) {
      const job: KlangioJob = { ...state, ...(outputs === undefined ? {} : { outputs: new Set(outputs) }) };
      this.#jobs.set(job.id, job);
      if (job.webhookUrl !== undefined) this.#scheduleWebhooks(job, job.webhookUrl, now);
    }
  }

  /** A fresh id; a restored job may hold the id the same seed draws again after a restart. */
  #newId(): string {
    let id = hexId(this.#opts.random, 24);
    while (this.#jobs.has(id)) id = hexId(this.#opts.random, 24);
    return id;
  }

  #scheduleWebhooks(job: KlangioJob, url: string, after: number): void {
    // Every change after queueing (IN_PROGRESS, then the terminal status) that lies after `after`.
    for (const step of job.timeline.slice(1).filter((s) => s.atMs > after)) {
      const fire = (): void => {
        // Timers may fire a little early (and atMs is fractional): never announce a status the
        // status endpoint does not show yet.
        const early = step.atMs - this.#opts.now();
        if (early > 0) {
          this.#opts.timers.schedule(fire, Math.ceil(early));
          return;
        }
        try {
          this.#opts.webhooks.send(url, { job_id: job.id, status: step.status }, job.id);
        } catch (error) {
          // Only a restored job can get here (create checks the URL): a state file written with
          // allowRemoteWebhooks, read without it. The job stays pollable.
          if (!(error instanceof WebhookUrlError)) throw error;
        }
      };
      this.#opts.timers.schedule(fire, Math.max(0, Math.ceil(step.atMs - this.#opts.now())));
    }
  }
}
