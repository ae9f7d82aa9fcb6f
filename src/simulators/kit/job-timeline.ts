import type { Random } from './seeded-random.js';

/** One planned status of a job and the wall-clock time (ms) at which it begins. */
export interface TimelineStep<S extends string> {
  status: S;
  atMs: number;
  /** Optional progress hint in [0, 1] at the start of this step. */
  progress?: number;
}

/** Options of {@link planTimeline}. */
export interface PlanTimelineOptions<S extends string> {
  /** Wall-clock time (ms) at which the first step begins. */
  startedAt: number;
  /** Speed factor: durations are divided by it (1 = demo speed). Must be > 0. */
  speed: number;
  random: Random;
  /**
   * The steps in order. The first begins at `startedAt`; each next one begins after the
   * previous one's duration, drawn uniformly in [minMs, maxMs] / speed. The last step's
   * duration is ignored (it is the final status).
   */
  steps: { status: S; minMs: number; maxMs: number }[];
}

/**
 * Plans when a job passes through its statuses.
 *
 * @example
 * const timeline = planTimeline({
 *   startedAt: Date.now(), speed: 1, random: createRandom(1),
 *   steps: [
 *     { status: 'IN_QUEUE', minMs: 500, maxMs: 1500 },
 *     { status: 'IN_PROGRESS', minMs: 2000, maxMs: 6000 },
 *     { status: 'COMPLETED', minMs: 0, maxMs: 0 },
 *   ],
 * });
 */
export function planTimeline<S extends string>(opts: PlanTimelineOptions<S>): TimelineStep<S>[] {
  if (!(opts.speed > 0)) throw new RangeError(`speed must be > 0, got ${opts.speed}`);
  const total = opts.steps.length;
  let at = opts.startedAt;
  return opts.steps.map((step, index) => {
    const planned: TimelineStep<S> = { status: step.status, atMs: at, progress: total > 1 ? index / (total - 1) : 1 };
    const duration = step.minMs + (step.maxMs - step.minMs) * opts.random();
    at += duration / opts.speed;
    return planned;
  });
}

/**
 * Returns the step a job is in at time `now`: the last step whose `atMs` is not after
 * `now`, or the first step when `now` precedes the whole timeline.
 *
 * @example
 * stepAt(timeline, Date.now()).status; // e.g. 'IN_PROGRESS'
 */
export function stepAt<S extends string>(timeline: readonly TimelineStep<S>[], now: number): TimelineStep<S> {
  const first = timeline[0];
  if (first === undefined) throw new RangeError('empty timeline');
  let current = first;
  for (const step of timeline) {
    if (step.atMs <= now) current = step;
    else break;
  }
  return current;
}
