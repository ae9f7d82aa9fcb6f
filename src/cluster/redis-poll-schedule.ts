import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { asyncScheduler, from, take, type ObservableInput, type SchedulerLike, type Subscription } from 'rxjs';
import { z } from 'zod';
import { JobstreamError } from '../streams/errors.js';
import { laneHealth, type LaneEvent, type LaneHealth, type PollOutcome, type PollPolicy, type PollSchedule, type PollSchedulerOptions, type PollTarget } from '../streams/poll-scheduler.js';
import { createRedisConnection, describeRedisError, isRedisConnectionError } from './redis-connection.js';
import { ACQUIRE, ADD, CLAIM, LANE_HEALTH, NOTE_WEBHOOK, POLL_NOW, REMOVE, REPORT, SETTLE } from './redis-poll-scripts.js';

/** Options of {@link RedisPollSchedule}: the core's scheduler options plus where and how to share. */
export interface RedisPollScheduleOptions extends PollSchedulerOptions {
  /**
   * The Redis connection to use (shared with the caller, who closes it), or the URL of one to
   * open (made by `createRedisConnection`, closed by {@link RedisPollSchedule.close}). Every
   * command goes through this one connection, in the order the methods were called.
   */
  redis: Redis | { url: string };
  /** Prefix of every key. Members of one cluster use the same prefix. @default 'jobstream:' */
  prefix?: string;
  /** Names this member in claims. @default `<hostname>:<pid>:<8 random hex digits>` */
  memberId?: string;
  /**
   * How long a claim holds a job: a member that dies with polls in flight gives its jobs up to
   * the others this long after it claimed them. Keep it above the longest poll (a poll that
   * outlives its lease may be repeated by another member; the job's version check keeps the
   * state right, so that costs one duplicate provider call, nothing more).
   * @default 60_000
   */
  leaseMs?: number;
  /**
   * During an outage (`unavailable`) the cluster lets one probe through at a time, every
   * `min(probeIntervalMs, backoff)` where `backoff` doubles from the policy's `initialMs` up to
   * its `maxMs` (at least the provider's Retry-After). Recovery is noticed within this long.
   * @default 5_000
   */
  probeIntervalMs?: number;
  /**
   * How often a member reads the schedule when nothing is due sooner: it also hears of jobs that
   * other members scheduled or brought forward, and of expired leases, within this long.
   * @default 1_000
   */
  rereadMs?: number;
  /**
   * Hears every command that failed (Redis unreachable, a script error). The schedule keeps
   * going: changes to a job's schedule (`add`, `remove`, `noteWebhook`, `pollNow`) are kept in
   * order and sent again once Redis answers; claims are tried again; a settle that failed leaves
   * the job to its lease. Called synchronously; it must not throw.
   */
  onError?: (error: PollScheduleError) => void;
}

/** What a {@link PollScheduleError} was doing. */
export type PollScheduleOperation = 'add' | 'remove' | 'noteWebhook' | 'pollNow' | 'claim' | 'settle' | 'acquire' | 'report' | 'health';

/**
 * A command of the shared poll schedule failed. `retried` says whether it will be sent again
 * (a lost connection) or was given up (an error answer from Redis, or the schedule closed).
 *
 * @example
 * new RedisPollSchedule({ poll, redis, onError: (e) => log.warn({ op: e.operation, lane: e.lane }, e.message) });
 */
export class PollScheduleError extends JobstreamError {
  readonly operation: PollScheduleOperation;
  readonly lane: string | undefined;
  readonly jobId: string | undefined;
  readonly retried: boolean;
  constructor(operation: PollScheduleOperation, context: { lane?: string | undefined; jobId?: string | undefined; retried: boolean }, cause: unknown) {
    const where = [context.lane === undefined ? '' : ` lane ${context.lane}`, context.jobId === undefined ? '' : ` job ${context.jobId}`].join('');
    super('POLL_SCHEDULE_FAILED', `poll schedule: ${operation}${where} failed (${describeRedisError(cause)})${context.retried ? ', will try again' : ''}`, { cause });
    this.operation = operation;
    this.lane = context.lane;
    this.jobId = context.jobId;
    this.retried = context.retried;
  }
}

interface Lane {
  readonly key: string;
  readonly policy: PollPolicy;
  readonly dueKey: string;
  readonly laneKey: string;
  inFlight: number;
  readonly waiters: Array<() => void>;
  readonly calls: Set<Subscription>;
  timer: Subscription | undefined;
  /** A round (acquire, claim) is running; `again` asks for one more after it. */
  running: boolean;
  again: boolean;
  /** Consecutive failed rounds (Redis errors), for the retry delay. */
  errors: number;
}

/** One change to a job's schedule, waiting to reach Redis. */
interface Op {
  readonly operation: 'add' | 'remove' | 'noteWebhook' | 'pollNow';
  readonly jobId: string;
  readonly lane: Lane | undefined;
  readonly script: string;
  readonly keys: readonly string[];
  readonly args: ReadonlyArray<string | number>;
}

const ClaimReply = z.tuple([z.number(), z.number()], z.string());
const AcquireReply = z.tuple([z.number(), z.number(), z.number()]);
const EventReply = z.union([
  z.tuple([z.literal('')]),
  z.tuple([z.enum(['lane-outage', 'lane-rate-limited']), z.number(), z.number()]),
  z.tuple([z.literal('lane-recovered'), z.number(), z.number(), z.enum(['unavailable', 'rate-limited']), z.number(), z.number()]),
]);

const LaneHealthReply = z.tuple([z.number(), z.string(), z.string(), z.string(), z.string(), z.string(), z.string(), z.number()]);

const RETRY_MIN_MS = 50;

/**
 * The poll schedule of a cluster: {@link PollSchedule} with the due times, leases and rate
 * budgets in Redis, shared by every member (each engine of the cluster makes one, with the same
 * `prefix`). The semantics are `PollScheduler`'s, for the whole cluster:
 *
 * - Each lane's due times are a sorted set; each member claims due jobs with one atomic script
 *   that gives it a lease (`leaseMs`), so each due poll is made by one member. After the poll
 *   the claimer sets the job's next due time by the outcome. A member that dies leaves its
 *   claims to expire; the others take its jobs within `leaseMs` plus one interval.
 * - One token bucket, one Retry-After block and one outage probe per lane for the whole
 *   cluster: a 429 seen by one member stops every member's calls of that credential until it
 *   ends, and during an outage one call at a time goes out cluster-wide, every
 *   `min(probeIntervalMs, backoff)`, until one gets an answer.
 * - Time is Redis's clock (`TIME`), so members with skewed clocks agree; lane events carry
 *   Redis times. `scheduler` only runs this member's timers (it must run in real time).
 * - `add`, `remove`, `noteWebhook` and `pollNow` return at once and reach Redis in call order;
 *   failures go to `onError` and are retried (see {@link RedisPollScheduleOptions.onError}).
 * - `size` and `has` are this member's view: jobs it added and has not removed or seen finish.
 *   A job that another member saw finish stays in it until this member is told (`remove`).
 *
 * Needs a standalone Redis (6.2 or newer; scripts address keys they derive from a job's hash).
 *
 * @example
 * const polls = new RedisPollSchedule({ poll: (id) => pollJob(id), redis: connection, leaseMs: 30_000 });
 * polls.defineLane('klangio:ab12', policy);
 * polls.add(jobId, { lane: 'klangio:ab12', hooked: true });
 */
export class RedisPollSchedule implements PollSchedule {
  readonly #poll: (jobId: string) => ObservableInput<PollOutcome>;
  readonly #scheduler: SchedulerLike;
  readonly #random: () => number;
  readonly #onLaneEvent: ((event: LaneEvent) => void) | undefined;
  readonly #onError: ((error: PollScheduleError) => void) | undefined;
  readonly #redis: Redis;
  readonly #ownsConnection: boolean;
  readonly #prefix: string;
  readonly #memberId: string;
  readonly #leaseMs: number;
  readonly #probeIntervalMs: number;
  readonly #rereadMs: number;
  readonly #lanes = new Map<string, Lane>();
  /** Jobs this member added and has not removed or seen finish, with their lane. */
  readonly #jobs = new Map<string, Lane>();
  readonly #ops: Op[] = [];
  readonly #flushWaiters: Array<() => void> = [];
  #draining = false;
  #opErrors = 0;
  #opTimer: Subscription | undefined;
  #claims = 0;
  #failures = 0;
  #closed = false;
  /** Resolves once an owned connection was first ready (at once for a given one), or at close. */
  readonly #connected: Promise<void>;
  #releaseConnected: () => void = () => {};
  /** Loops (`ops`, `lane:<key>`) whose last command failed: their next failures are counted, not reported. */
  readonly #troubled = new Set<string>();

  constructor(options: RedisPollScheduleOptions) {
    this.#poll = options.poll;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#random = options.random ?? Math.random;
    this.#onLaneEvent = options.onLaneEvent;
    this.#onError = options.onError;
    this.#prefix = options.prefix ?? 'jobstream:';
    this.#memberId = options.memberId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#leaseMs = positive('leaseMs', options.leaseMs ?? 60_000);
    this.#probeIntervalMs = positive('probeIntervalMs', options.probeIntervalMs ?? 5_000);
    this.#rereadMs = positive('rereadMs', options.rereadMs ?? 1_000);
    if ('url' in options.redis) {
      this.#redis = createRedisConnection({ url: options.redis.url, name: 'jobstream-polls' });
      this.#ownsConnection = true;
      const connection = this.#redis;
      this.#connected = new Promise<void>((resolve) => {
        this.#releaseConnected = resolve;
        connection.once('ready', () => resolve());
      });
      // ioredis keeps reconnecting after a failed first try; until the first `ready` every loop waits.
      connection.connect().catch(() => {});
    } else {
      this.#redis = options.redis;
      this.#ownsConnection = false;
      this.#connected = Promise.resolve();
    }
  }

  /** Number of jobs this member added and has not removed or seen finish (its local view). */
  get size(): number {
    return this.#jobs.size;
  }

  /**
   * Commands that failed so far; for metrics. `onError` hears every failed settle or report, but
   * of a loop that keeps failing (claims of a lane while Redis is away, queued changes) only the
   * first failure until one of its commands works again.
   */
  get failures(): number {
    return this.#failures;
  }

  /** Changes to the schedule (`add`, `remove`, …) not yet confirmed by Redis; for health checks. */
  get pending(): number {
    return this.#ops.length;
  }

  /**
   * Resolves once every change to the schedule made so far (`add`, `remove`, `noteWebhook`,
   * `pollNow`) is in Redis or was given up (see `onError`), or the schedule is closed. While
   * Redis is unreachable it waits.
   */
  flush(): Promise<void> {
    if (this.#ops.length === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /** This member's name in claims. */
  get memberId(): string {
    return this.#memberId;
  }

  /**
   * Declares a lane and starts claiming its due jobs (also those other members added). Declaring
   * an existing lane again keeps the first policy. Every member must declare the same policies.
   */
  defineLane(key: string, policy: PollPolicy): void {
    if (this.#lanes.has(key) || this.#closed) return;
    const lane: Lane = {
      key,
      policy,
      dueKey: `${this.#prefix}due:${key}`,
      laneKey: `${this.#prefix}poll-lane:${key}`,
      inFlight: 0,
      waiters: [],
      calls: new Set(),
      timer: undefined,
      running: false,
      again: false,
      errors: 0,
    };
    this.#lanes.set(key, lane);
    this.#pump(lane);
  }

  /**
   * Starts polling a job. A job some member already scheduled keeps its due time (and its
   * webhook mode); adding a job this member already added does nothing.
   */
  add(jobId: string, target: PollTarget): void {
    if (this.#closed || this.#jobs.has(jobId)) return;
    const lane = this.#lanes.get(target.lane);
    if (lane === undefined) throw new Error(`poll lane "${target.lane}" is not defined`);
    this.#jobs.set(jobId, lane);
    const delay = target.dueAt === undefined ? -1 : Math.max(0, target.dueAt - this.#scheduler.now());
    const quiet = lane.policy.watchdog?.quietMs ?? -1;
    this.#send({
      operation: 'add',
      jobId,
      lane,
      script: ADD,
      keys: [lane.dueKey, this.#jobKey(jobId), `${this.#prefix}poll-now:${jobId}`],
      args: [jobId, lane.key, target.hooked ? 1 : 0, quiet, delay, lane.policy.intervalMs],
    });
  }

  /** Stops polling a job, for every member. A poll in flight is left to settle. */
  remove(jobId: string): void {
    if (this.#closed) return;
    this.#jobs.delete(jobId);
    this.#send({ operation: 'remove', jobId, lane: undefined, script: REMOVE, keys: [this.#jobKey(jobId)], args: [jobId, this.#prefix] });
  }

  /** Whether this member added this job and has not removed it or seen it finish. */
  has(jobId: string): boolean {
    return this.#jobs.has(jobId);
  }

  /**
   * A webhook arrived for this job (at this member; the job may be any member's): the channel
   * works, so its next poll is pushed back to now + the watchdog's quiet time.
   */
  noteWebhook(jobId: string): void {
    if (this.#closed) return;
    this.#send({ operation: 'noteWebhook', jobId, lane: undefined, script: NOTE_WEBHOOK, keys: [this.#jobKey(jobId)], args: [jobId, this.#prefix] });
  }

  /**
   * Polls this job as soon as the lane's budget allows (whichever member added it); a job being
   * polled is polled again right after. Until the next webhook it is then polled at the plain
   * interval. Other members hear of it within `rereadMs`; this member at once.
   */
  pollNow(jobId: string): void {
    if (this.#closed) return;
    this.#send({ operation: 'pollNow', jobId, lane: this.#jobs.get(jobId), script: POLL_NOW, keys: [this.#jobKey(jobId)], args: [jobId, this.#prefix] });
  }

  /**
   * Waits for a slot in the lane's shared budget for a call that is not a poll (a submission):
   * it takes a token of the cluster's bucket and waits out a block (Retry-After, or an outage's
   * backoff). As in `PollScheduler`, such calls are not held to the one-probe rule of a lane in
   * trouble. On this member they go before due polls. Report the call's result with
   * {@link reportSuccess} or {@link reportFailure}.
   */
  acquire(laneKey: string): Promise<void> {
    const lane = this.#lanes.get(laneKey);
    if (lane === undefined) return Promise.reject(new Error(`poll lane "${laneKey}" is not defined`));
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      lane.waiters.push(resolve);
      this.#pump(lane);
    });
  }

  /** Tells the cluster that a call made after {@link acquire} got an answer: the provider is back. */
  reportSuccess(laneKey: string): void {
    this.#report(laneKey, { type: 'ok' });
  }

  /** Tells the cluster that a call made after {@link acquire} was rate-limited or found the provider down. */
  reportFailure(laneKey: string, outcome: Extract<PollOutcome, { type: 'rate-limited' | 'unavailable' }>): void {
    this.#report(laneKey, outcome);
  }

  /**
   * The health of every lane this member defined, from the shared state in Redis (so the same on
   * every member): rate budget, Retry-After block, outage state, cluster-wide job count. Times
   * are Redis's clock.
   *
   * @throws PollScheduleError (operation `health`) when Redis cannot be read.
   */
  async lanes(): Promise<LaneHealth[]> {
    const lanes = [...this.#lanes.values()];
    try {
      const replies = await Promise.all(lanes.map((lane) => this.#eval(LANE_HEALTH, [lane.laneKey, lane.dueKey], [])));
      return lanes.map((lane, i) => {
        const [now, tokens, refilledAt, blockedUntil, failures, trouble, troubleSince, jobs] = LaneHealthReply.parse(replies[i]);
        const number = (text: string, fallback: number): number => (text === '' || !Number.isFinite(Number(text)) ? fallback : Number(text));
        return laneHealth({
          lane: lane.key,
          jobs,
          policy: lane.policy,
          tokens: number(tokens, lane.policy.rate.limit),
          refilledAt: number(refilledAt, now),
          blockedUntil: number(blockedUntil, 0),
          failures: number(failures, 0),
          trouble: trouble === 'unavailable' || trouble === 'rate-limited' ? trouble : undefined,
          troubleSince: number(troubleSince, now),
          now,
        });
      });
    } catch (error) {
      throw new PollScheduleError('health', { retried: false }, error);
    }
  }

  /**
   * Stops every loop and timer and releases every `acquire` waiter. Polls in flight are
   * abandoned, not awaited: their leases expire and another member polls those jobs. Changes
   * not yet sent to Redis are dropped. Closes the connection if it opened it. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#opTimer?.unsubscribe();
    for (const lane of this.#lanes.values()) {
      lane.timer?.unsubscribe();
      lane.timer = undefined;
      for (const waiter of lane.waiters.splice(0)) waiter();
      for (const call of lane.calls) call.unsubscribe();
      lane.calls.clear();
    }
    this.#jobs.clear();
    this.#ops.length = 0;
    for (const waiter of this.#flushWaiters.splice(0)) waiter();
    this.#releaseConnected();
    if (this.#ownsConnection) this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #jobKey(jobId: string): string {
    return `${this.#prefix}poll-job:${jobId}`;
  }

  #fail(operation: PollScheduleOperation, context: { lane?: string | undefined; jobId?: string | undefined; retried: boolean }, cause: unknown, loop?: string): void {
    this.#failures += 1;
    if (loop !== undefined) {
      if (this.#troubled.has(loop)) return;
      this.#troubled.add(loop);
    }
    this.#onError?.(new PollScheduleError(operation, context, cause));
  }

  async #eval(script: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.#redis.eval(script, keys.length, ...keys, ...args);
  }

  #delay(errors: number): number {
    return Math.min(this.#rereadMs, RETRY_MIN_MS * 2 ** Math.min(errors, 10));
  }

  // --- changes to the schedule: in call order, sent in batches, retried after connection loss ---

  #send(op: Op): void {
    this.#ops.push(op);
    if (!this.#draining && this.#opTimer === undefined) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#ops.length > 0 && !this.#closed) {
        await this.#connected;
        if (this.#closed) return;
        // One batch on one connection: Redis runs it in order. EVAL rather than EVALSHA with a
        // fallback, which would resend a NOSCRIPT miss after the commands behind it.
        const batch = this.#ops.slice();
        const results = await Promise.allSettled(batch.map((op) => this.#eval(op.script, op.keys, op.args)));
        if (this.#closed) return;
        let retry = -1;
        for (const [i, result] of results.entries()) {
          if (result.status === 'fulfilled') continue;
          const op = batch[i];
          if (op === undefined) continue;
          const lost = isRedisConnectionError(result.reason);
          this.#fail(op.operation, { lane: op.lane?.key, jobId: op.jobId, retried: lost }, result.reason, lost ? 'ops' : undefined);
          if (lost && retry < 0) retry = i;
        }
        // Everything from the first lost command on is sent again, in order (all are idempotent).
        const done = retry < 0 ? batch.length : retry;
        this.#ops.splice(0, done);
        // A job added or brought forward is claimed at once if this member has a free slot.
        const touched = new Set<Lane>();
        for (const [i, op] of batch.slice(0, done).entries()) {
          const result = results[i];
          const lane = op.operation === 'add' ? op.lane : op.operation === 'pollNow' && result?.status === 'fulfilled' && typeof result.value === 'string' ? this.#lanes.get(result.value) : undefined;
          if (lane !== undefined) touched.add(lane);
        }
        for (const lane of touched) this.#pump(lane);
        if (retry >= 0) {
          this.#opErrors += 1;
          const wait = this.#delay(this.#opErrors);
          this.#opTimer = this.#scheduler.schedule(() => {
            this.#opTimer = undefined;
            if (!this.#draining) void this.#drain();
          }, wait);
          return;
        }
        this.#opErrors = 0;
        this.#troubled.delete('ops');
        if (this.#ops.length === 0) for (const waiter of this.#flushWaiters.splice(0)) waiter();
      }
    } finally {
      this.#draining = false;
    }
  }

  // --- the claim loop of a lane ---

  #pump(lane: Lane): void {
    if (this.#closed) return;
    if (lane.running) {
      lane.again = true;
      return;
    }
    lane.running = true;
    void this.#rounds(lane);
  }

  async #rounds(lane: Lane): Promise<void> {
    try {
      do {
        lane.again = false;
        await this.#round(lane);
      } while (lane.again && !this.#closed);
    } finally {
      lane.running = false;
    }
  }

  /** Serves this member's `acquire` waiters, then claims due jobs for its free slots; arms the next wake. */
  async #round(lane: Lane): Promise<void> {
    await this.#connected;
    if (this.#closed) return;
    lane.timer?.unsubscribe();
    lane.timer = undefined;
    const { policy } = lane;
    let operation: PollScheduleOperation = 'acquire';
    try {
      while (lane.waiters.length > 0) {
        const reply = AcquireReply.parse(await this.#eval(ACQUIRE, [lane.laneKey], [policy.rate.limit, policy.rate.windowMs]));
        if (this.#closed) return;
        const [granted, wake, now] = reply;
        if (granted !== 1) return this.#arm(lane, wake - now);
        lane.waiters.shift()?.();
      }
      operation = 'claim';
      const free = policy.maxInFlight - lane.inFlight;
      if (free <= 0) return;
      const token = `${this.#memberId}:${++this.#claims}`;
      const reply = ClaimReply.parse(await this.#eval(CLAIM, [lane.dueKey, lane.laneKey], [free, this.#leaseMs, policy.rate.limit, policy.rate.windowMs, token, `${this.#prefix}poll-job:`, this.#rereadMs]));
      lane.errors = 0;
      this.#troubled.delete(`lane:${lane.key}`);
      const [wake, now, ...claimed] = reply;
      // Closed while the claim was on its way: the leases expire and others take these jobs.
      if (this.#closed) return;
      for (const jobId of claimed) this.#start(lane, jobId, token);
      if (lane.inFlight < policy.maxInFlight) this.#arm(lane, wake - now);
    } catch (error) {
      if (this.#closed) return;
      lane.errors += 1;
      this.#fail(operation, { lane: lane.key, retried: true }, error, `lane:${lane.key}`);
      this.#arm(lane, this.#delay(lane.errors));
    }
  }

  #arm(lane: Lane, delay: number): void {
    if (this.#closed) return;
    lane.timer?.unsubscribe();
    lane.timer = this.#scheduler.schedule(() => {
      lane.timer = undefined;
      this.#pump(lane);
    }, Math.max(1, Math.min(delay, this.#rereadMs)));
  }

  #start(lane: Lane, jobId: string, token: string): void {
    lane.inFlight += 1;
    const held: { call?: Subscription; settled: boolean } = { settled: false };
    const settle = (outcome: PollOutcome): void => {
      if (held.settled) return;
      held.settled = true;
      if (held.call !== undefined) lane.calls.delete(held.call);
      void this.#settle(lane, jobId, token, outcome);
    };
    let source: ObservableInput<PollOutcome>;
    try {
      source = this.#poll(jobId);
    } catch {
      settle({ type: 'failed' });
      return;
    }
    const call = from(source)
      .pipe(take(1))
      .subscribe({
        next: settle,
        error: () => settle({ type: 'failed' }),
        complete: () => settle({ type: 'failed' }),
      });
    if (!held.settled) {
      held.call = call;
      lane.calls.add(call);
    }
  }

  async #settle(lane: Lane, jobId: string, token: string, outcome: PollOutcome): Promise<void> {
    const { policy } = lane;
    const kind = outcome.type;
    const terminal = outcome.type === 'ok' && outcome.terminal;
    const retryAfterMs = outcome.type === 'rate-limited' || outcome.type === 'unavailable' ? (outcome.retryAfterMs ?? -1) : -1;
    try {
      const reply = await this.#eval(
        SETTLE,
        [lane.dueKey, lane.laneKey, this.#jobKey(jobId)],
        [
          jobId,
          token,
          kind,
          terminal ? 1 : 0,
          retryAfterMs,
          this.#random(),
          policy.intervalMs,
          policy.watchdog?.quietMs ?? -1,
          policy.backoff.initialMs,
          policy.backoff.maxMs,
          this.#probeIntervalMs,
          policy.rate.limit,
          policy.rate.windowMs,
        ],
      );
      if (terminal && this.#jobs.get(jobId) === lane) this.#jobs.delete(jobId);
      this.#emit(lane, reply, retryAfterMs);
    } catch (error) {
      // The job keeps its lease: once it expires, a member polls it again.
      this.#fail('settle', { lane: lane.key, jobId, retried: false }, error);
    } finally {
      lane.inFlight -= 1;
      this.#pump(lane);
    }
  }

  #report(laneKey: string, outcome: { type: 'ok' } | Extract<PollOutcome, { type: 'rate-limited' | 'unavailable' }>): void {
    const lane = this.#lanes.get(laneKey);
    if (lane === undefined || this.#closed) return;
    const { policy } = lane;
    const retryAfterMs = outcome.type === 'ok' ? -1 : (outcome.retryAfterMs ?? -1);
    this.#eval(
      REPORT,
      [lane.laneKey],
      [outcome.type, retryAfterMs, this.#random(), policy.backoff.initialMs, policy.backoff.maxMs, this.#probeIntervalMs, policy.rate.limit, policy.rate.windowMs],
    ).then(
      (reply) => {
        this.#emit(lane, reply, retryAfterMs);
        this.#pump(lane);
      },
      (error: unknown) => this.#fail('report', { lane: lane.key, retried: false }, error),
    );
  }

  /** Hands the lane event a script reported, if any, to `onLaneEvent`. */
  #emit(lane: Lane, reply: unknown, retryAfterMs: number): void {
    if (this.#closed || this.#onLaneEvent === undefined) return;
    const parsed = EventReply.safeParse(reply);
    if (!parsed.success) {
      this.#fail('report', { lane: lane.key, retried: false }, new Error(`unexpected reply from Redis: ${JSON.stringify(reply).slice(0, 200)}`));
      return;
    }
    const event = parsed.data;
    const retryAfter = retryAfterMs >= 0 ? { retryAfterMs } : {};
    switch (event[0]) {
      case '':
        return;
      case 'lane-outage':
      case 'lane-rate-limited':
        this.#onLaneEvent({ type: event[0], lane: lane.key, at: event[1], until: event[2], ...retryAfter });
        return;
      case 'lane-recovered':
        this.#onLaneEvent({ type: 'lane-recovered', lane: lane.key, at: event[1], cause: event[3], since: event[4], failures: event[5] });
        return;
    }
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of milliseconds, not ${value}`);
  return value;
}
