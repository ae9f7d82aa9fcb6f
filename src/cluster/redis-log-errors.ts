import { JobstreamError } from '../streams/errors.js';

/**
 * A follower found that the log no longer holds the change it needs next: the stream was
 * trimmed past it (the follower fell more than the log's size behind). It stops rather than
 * skip changes; whoever follows must reload the state and follow again from there.
 *
 * @example
 * log.follow(seq, { onChange, onError: (e) => { if (e instanceof JobstreamError && e.code === 'LOG_GAP') reload() } });
 */
export class LogGapError extends JobstreamError {
  /** The seq the follower needed. */
  readonly expectedSeq: number;
  /** The oldest seq the log still had after it. */
  readonly foundSeq: number;
  constructor(expectedSeq: number, foundSeq: number) {
    super('LOG_GAP', `the shared log no longer holds change ${expectedSeq} (the next one kept is ${foundSeq}): changes ${expectedSeq}…${foundSeq - 1} were trimmed before this follower read them`);
    this.expectedSeq = expectedSeq;
    this.foundSeq = foundSeq;
  }
}

/**
 * The keyspace no longer holds the log this instance loaded: its epoch key is gone or names
 * another log (Redis lost its data, e.g. it ran without persistence and restarted, or it was
 * flushed). Nothing was written; seqs of the old log mean nothing in the new one, so the
 * instance must load again (restart) rather than go on.
 */
export class LogEpochChangedError extends JobstreamError {
  /** The epoch this instance loaded. */
  readonly epoch: string;
  /** What the keyspace holds now (`null`: nothing). */
  readonly found: string | null;
  constructor(epoch: string, found: string | null) {
    super('LOG_EPOCH_CHANGED', `the shared log in Redis is ${found === null ? 'gone' : `now "${found}"`}, not "${epoch}": Redis lost or replaced its data since this instance loaded it; restart the instance`);
    this.epoch = epoch;
    this.found = found;
  }
}

/** The log was closed; it takes no more requests. */
export class LogClosedError extends JobstreamError {
  constructor() {
    super('LOG_CLOSED', 'the shared log is closed');
  }
}
