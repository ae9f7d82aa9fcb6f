import { randomBytes } from 'node:crypto';
import type { CallContext, CreateJobRequest, CreateJobResult, ProviderAdapter, ProviderJobRef, ProviderReport } from '../../src/streams/provider-port.js';
import { newJobId, newSecret } from '../../src/streams/job-id.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import type { JobStatus } from '../../src/streams/job-status.js';
import type { JobStore, StoredJob } from '../../src/streams/job-store.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';

/**
 * A realistic stored job: what the engine keeps for a Klangio transcription half-way through
 * (id, external id and secret unique per job, as a store would load them).
 */
export function makeStoredJob(provider: string, status: JobStatus, now = Date.now()): StoredJob {
  const terminal = status === 'succeeded' || status === 'failed' || status === 'canceled';
  // Built on the reducer's own first snapshot, so fields added to the schema are filled in.
  const created = createSnapshot({
    id: newJobId(now),
    provider,
    kind: 'transcription',
    externalId: randomBytes(12).toString('hex'),
    name: null,
    metadata: {},
    options: { model: 'guitar', outputs: ['mxml', 'midi'] },
    createdAt: now - 60_000,
  });
  const job: JobSnapshot = {
    ...created,
    status,
    providerStatus: terminal ? 'COMPLETED' : 'IN_PROGRESS',
    progress: terminal ? 1 : 0.5,
    result: status === 'succeeded' ? { files: ['score.musicxml', 'notes.mid'] } : null,
    error: status === 'failed' ? { code: 'BAD_INPUT', message: 'the audio could not be decoded' } : null,
    version: terminal ? 4 : 3,
    updatedAt: now,
    source: 'poll',
  };
  return { job, secret: newSecret() };
}

/** `count` running jobs (and, with `finished`, that share of them terminal). */
export function makeStoredJobs(provider: string, count: number, finished = 0): StoredJob[] {
  const now = Date.now();
  const out: StoredJob[] = [];
  for (let i = 0; i < count; i++) {
    const status: JobStatus = i < count * finished ? (i % 10 === 0 ? 'failed' : 'succeeded') : 'running';
    out.push(makeStoredJob(provider, status, now));
  }
  return out;
}

/**
 * A store that hands the engine a prepared set of jobs on `load` and keeps nothing itself, so a
 * heap measurement sees the engine's own cost (a `FileStore` also keeps nothing per job after
 * `load`, apart from what lowdb's `data` holds; see docs/benchmarks.md, B3).
 */
export class PreloadedStore implements JobStore {
  #jobs: StoredJob[] | undefined;
  readonly wantsCompaction = false;
  appended = 0;

  constructor(jobs: StoredJob[]) {
    this.#jobs = jobs;
  }

  load(): Promise<StoredJob[]> {
    const jobs = this.#jobs ?? [];
    this.#jobs = undefined;
    return Promise.resolve(jobs);
  }

  append(batch: readonly StoredJob[]): Promise<void> {
    this.appended += batch.length;
    return Promise.resolve();
  }

  compact(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A poll policy under which nothing is polled during a benchmark (hourly, one call per hour). */
export const IDLE_POLICY: PollPolicy = {
  intervalMs: 3_600_000,
  backoff: { initialMs: 1000, maxMs: 60_000 },
  rate: { limit: 1, windowMs: 3_600_000 },
  maxInFlight: 1,
};

/** A provider whose every poll says "still running"; for memory and polling benchmarks. */
export class StillRunningProvider implements ProviderAdapter {
  readonly provider: string;
  readonly kinds = ['transcription'] as const;
  readonly webhooks = false;
  readonly credentialId = 'bench';
  readonly pollPolicy: PollPolicy;
  polls = 0;

  constructor(provider = 'noop', pollPolicy: PollPolicy = IDLE_POLICY) {
    this.provider = provider;
    this.pollPolicy = pollPolicy;
  }

  create(_request: CreateJobRequest, _context: CallContext): Promise<CreateJobResult> {
    return Promise.resolve({ externalId: randomBytes(12).toString('hex') });
  }

  poll(_job: ProviderJobRef, _context: CallContext): Promise<ProviderReport> {
    this.polls += 1;
    return Promise.resolve({ status: 'running', providerStatus: 'IN_PROGRESS', progress: 0.5 });
  }
}
