import type { JobChange } from './job-change.js';

/**
 * The last `capacity` changes, in order, kept in a ring so that a reconnecting subscriber can be
 * sent exactly what it missed.
 */
export class ChangeLog {
  readonly #ring: (JobChange | undefined)[];
  #count = 0;
  #lastSeq = 0;
  /**
   * The seq at the last removal of jobs (see {@link forget}): a reader at or before it may hold
   * a removed job, which the log cannot tell it about, so it is not served from here.
   */
  #removedAt = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('change log capacity must be a positive integer');
    this.#ring = new Array<JobChange | undefined>(capacity);
  }

  /**
   * Continues a log whose changes up to `seq` are not kept here (a log reopened after a
   * restart): the next change is `seq + 1`, and only a reader at exactly `seq` is served from it.
   * Only before the first {@link push}. `removedAt`: the seq at the last removal of jobs, as
   * stored (see {@link forget}).
   */
  continueAfter(seq: number, removedAt = 0): void {
    if (this.#count > 0 || this.#lastSeq > 0) throw new Error('a change log continues only before its first change');
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`change log seq must be a non-negative integer, not ${seq}`);
    this.#lastSeq = seq;
    this.#removedAt = removedAt;
  }

  /**
   * Refills a log reopened after a restart with the tail its store kept: `changes` ascending and
   * contiguous in seq (only the newest `capacity` are kept). Only before the first {@link push}.
   */
  restore(changes: readonly JobChange[], removedAt = 0): void {
    if (this.#count > 0 || this.#lastSeq > 0) throw new Error('a change log is restored only before its first change');
    const first = changes[0];
    if (first === undefined) return;
    this.continueAfter(first.seq - 1, removedAt);
    for (const change of changes) this.push(change);
  }

  /**
   * The kept changes, oldest first (without those of removed jobs), as an array: a copy, which
   * stays as it is while the ring moves on.
   */
  snapshot(): JobChange[] {
    const out: JobChange[] = [];
    for (let s = this.#lastSeq - this.#count + 1; s <= this.#lastSeq; s++) {
      const change = this.#ring[s % this.#ring.length];
      if (change !== undefined) out.push(change);
    }
    return out;
  }

  /** The seq at the last removal of jobs (0: none known); see {@link forget}. */
  get removedAt(): number {
    return this.#removedAt;
  }

  /**
   * Forgets every kept change of the removed jobs `ids` (their history is gone), and stops
   * serving readers at or before `atSeq` (the seq at the removal, the current one by default):
   * they may hold one of those jobs, and only a resume by state can tell them it is gone.
   * Readers after it are served as before.
   */
  forget(ids: ReadonlySet<string>, atSeq = this.#lastSeq): void {
    if (ids.size === 0) return;
    for (let s = this.#lastSeq - this.#count + 1; s <= this.#lastSeq; s++) {
      const slot = s % this.#ring.length;
      const change = this.#ring[slot];
      if (change !== undefined && ids.has(change.job.id)) this.#ring[slot] = undefined;
    }
    this.#removedAt = Math.max(this.#removedAt, atSeq);
  }

  /** How many changes it keeps. */
  get capacity(): number {
    return this.#ring.length;
  }

  /** The seq of the newest change, 0 before the first. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Appends a change; its seq must follow the last one. */
  push(change: JobChange): void {
    if (change.seq !== this.#lastSeq + 1) throw new Error(`change seq ${change.seq} does not follow ${this.#lastSeq}`);
    this.#ring[change.seq % this.#ring.length] = change;
    this.#lastSeq = change.seq;
    this.#count = Math.min(this.#count + 1, this.#ring.length);
  }

  /** The kept changes of one job, oldest first. */
  forJob(jobId: string): JobChange[] {
    const oldest = this.#lastSeq - this.#count + 1;
    const out: JobChange[] = [];
    for (let s = oldest; s <= this.#lastSeq; s++) {
      const change = this.#ring[s % this.#ring.length];
      if (change?.job.id === jobId) out.push(change);
    }
    return out;
  }

  /**
   * The changes after `seq`, oldest first; `undefined` when some of them are no longer kept
   * (or `seq` is in the future, or at or before the last removal: see {@link forget}), so the
   * caller must start over from a snapshot (or resume by state).
   */
  since(seq: number): JobChange[] | undefined {
    const oldestKept = this.#lastSeq - this.#count + 1;
    if (!Number.isInteger(seq) || seq > this.#lastSeq || seq < oldestKept - 1 || (this.#removedAt > 0 && seq <= this.#removedAt)) return undefined;
    const out: JobChange[] = [];
    for (let s = seq + 1; s <= this.#lastSeq; s++) out.push(this.#ring[s % this.#ring.length] as JobChange);
    return out;
  }
}
