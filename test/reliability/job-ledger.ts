import { rank, type JobStatus } from '../../src/streams/job-status.js';

/** What the ledger needs of a job snapshot. */
export interface JobMark {
  id: string;
  version: number;
  status: JobStatus;
}

interface Floor {
  version: number;
  versionWhere: string;
  rank: number;
  status: JobStatus | undefined;
  rankWhere: string;
}

/**
 * The highest state of each job that the server has promised (a 2xx answer) or shown (REST, a
 * WebSocket message), and the check that nothing later goes below it. A crash may lose work
 * nobody heard of, never a promised or shown version, and no job may move back.
 *
 * `see` raises the floor; `expectAtLeast` checks a later read against it, then raises it.
 */
export class JobLedger {
  readonly problems: string[] = [];
  readonly #floor = new Map<string, Floor>();

  /** Jobs the ledger knows. */
  get ids(): string[] {
    return [...this.#floor.keys()];
  }

  /** The highest version promised or shown for a job (0 when unknown). */
  versionOf(id: string): number {
    return this.#floor.get(id)?.version ?? 0;
  }

  /**
   * Records that the server promised or showed `job` at this version (and status, when the
   * answer says it: a webhook answer gives only the version). `where` is for messages.
   */
  see(job: { id: string; version: number; status?: JobStatus | undefined }, where: string): void {
    const floor = this.#floor.get(job.id) ?? { version: 0, versionWhere: '', rank: -1, status: undefined, rankWhere: '' };
    if (job.version > floor.version) {
      floor.version = job.version;
      floor.versionWhere = where;
    }
    if (job.status !== undefined && rank(job.status) > floor.rank) {
      floor.rank = rank(job.status);
      floor.status = job.status;
      floor.rankWhere = where;
    }
    this.#floor.set(job.id, floor);
  }

  /** Checks a read of `job` against everything promised or shown before, then records it. */
  expectAtLeast(job: JobMark, where: string): void {
    const floor = this.#floor.get(job.id);
    if (floor !== undefined) {
      if (job.version < floor.version) {
        this.problems.push(`${job.id}: ${where} shows version ${job.version}, but ${floor.versionWhere} had version ${floor.version}`);
      }
      if (rank(job.status) < floor.rank) {
        this.problems.push(`${job.id}: ${where} shows status ${job.status}, but ${floor.rankWhere} had ${String(floor.status)}`);
      }
    }
    this.see(job, where);
  }
}

/**
 * Checks one ordered stream of job snapshots (one WebSocket subscription): per job, versions
 * strictly increase and the status rank never decreases. Keeps the latest snapshot per job.
 */
export class StreamOrder {
  readonly problems: string[] = [];
  readonly latest = new Map<string, JobMark>();
  /** Snapshots accepted, in total. */
  count = 0;
  /** Jobs whose versions jumped by more than one somewhere (changes this stream did not get). */
  readonly skipped = new Set<string>();

  constructor(readonly name: string) {}

  /** Feeds the next snapshot of a job from the stream. */
  next(job: JobMark): void {
    this.count += 1;
    const before = this.latest.get(job.id);
    if (before !== undefined) {
      if (job.version <= before.version) this.problems.push(`${this.name}: ${job.id} version ${job.version} after ${before.version}`);
      if (rank(job.status) < rank(before.status)) this.problems.push(`${this.name}: ${job.id} status ${job.status} after ${before.status}`);
      if (job.version > before.version + 1) this.skipped.add(job.id);
    }
    this.latest.set(job.id, { id: job.id, version: job.version, status: job.status });
  }
}
