import { asyncScheduler, from, take, type ObservableInput, type SchedulerLike, type Subscription } from 'rxjs';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import { DueQueue, type DueItem } from './due-queue.js';

/**
 * How one provider credential is polled. One policy per lane; every job of the credential shares
 * the lane's rate budget and its outage state.
 */
export interface PollPolicy {
  /** Time between two polls of a job that has no working webhook channel. */
  intervalMs: number;
  /**
   * Watchdog mode for jobs that also receive webhooks: after each webhook the next poll waits
   * `quietMs` (slower than `intervalMs`); once no webhook came for `quietMs`, the job is overdue
   * and is polled every `intervalMs` again.
   * @default undefined (plain polling)
   */
  watchdog?: { quietMs: number } | undefined;
  /** Backoff on errors, with full jitter. */
  backoff: BackoffPolicy;
  /**
   * During an outage (5xx, timeouts, refused connections) the lane sends one probe at a time, at
   * most this long apart (the jittered backoff, capped), so that recovery is noticed within
   * seconds, not after a backoff that has grown to `backoff.maxMs`. A provider's `Retry-After`
   * still wins. One cheap call every few seconds costs nothing next to a stalled queue.
   * @default 5000
   */
  outageProbeMs?: number;
  /** Token bucket per credential: at most `limit` calls per `windowMs`, bursts up to `limit`. */
  rate: { limit: number; windowMs: number };
  /** Polls of this credential in flight at once. */
  maxInFlight: number;
}

/** The longest wait between two probes of a lane in an outage, unless its policy says otherwise. */
export const DEFAULT_OUTAGE_PROBE_MS = 5000;

const FAILED: PollOutcome = { type: 'failed' };

/** The default {@link PollSchedulerOptions.tickMs}. */
export const DEFAULT_POLL_TICK_MS = 20;

/** What one poll came to, as the scheduler needs to know it. */
export type PollOutcome =
  /** The provider answered; `terminal` ends polling of this job. */
  | { type: 'ok'; terminal: boolean }
  /** 429 (or the provider's own rate-limit code): the whole credential waits. */
  | { type: 'rate-limited'; retryAfterMs?: number | undefined }
  /** 5xx, timeout, connection refused: the credential backs off and probes with one call at a time. */
  | { type: 'unavailable'; retryAfterMs?: number | undefined }
  /** This job's poll failed (an unreadable answer, an unknown id): only this job backs off. */
  | { type: 'failed' };

/** Options of {@link PollScheduler}. */
export interface PollSchedulerOptions {
  /**
   * Polls one job. The first value (or an error, read as `failed`) settles the poll. A promise
   * is settled directly (the cheapest path); an Observable is unsubscribed on `close`.
   */
  poll: (jobId: string) => ObservableInput<PollOutcome>;
  /**
   * Time source and timers. Pass the `TestScheduler` (or use `asyncScheduler` inside
   * `TestScheduler.run`) to test timing in virtual time.
   * @default asyncScheduler
   */
  scheduler?: SchedulerLike;
  /**
   * The longest tick: a lane's timer wakes on multiples of its tick, at most once per tick. A
   * lane's tick is this, or a fiftieth of its `intervalMs` when that is shorter (at least 1 ms),
   * so a poll goes at most 2 % of its cadence early. Polls due within a tick go together at its
   * start, in the order they were scheduled; waits that must not end early (Retry-After, outage
   * probes, the rate budget) end at the first tick after them. At 20,000 polls a second a 20 ms
   * tick wakes 50 times a second with 400 polls each rather than 1,000 times with 20. A
   * confirming poll ({@link PollScheduler.pollNow}) still goes at once. Pass 1 for exact
   * milliseconds.
   * @default 20
   */
  tickMs?: number;
  /** Uniform random numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /**
   * Hears when a lane enters an outage, is blocked by a rate limit, or recovers: once per such
   * change, never once per poll. Called synchronously; it must not throw.
   */
  onLaneEvent?: (event: LaneEvent) => void;
}

/**
 * A change in a lane's health, as {@link PollScheduler} reports it. Times are the scheduler's
 * (`scheduler.now()`, milliseconds since the epoch with the default scheduler).
 *
 * - `lane-outage`: the provider failed (5xx, timeout, refused connection) and the whole lane
 *   backs off, probing with one call at a time. Reported once per outage.
 * - `lane-rate-limited`: the provider answered "rate-limited" (429); no call of the lane goes
 *   out before `until`. Reported once per block: answers that extend a block already in force
 *   are not reported again.
 * - `lane-recovered`: a call of a lane in trouble got an answer again. `cause` is `unavailable`
 *   when the trouble included an outage, else `rate-limited`.
 *
 * @example
 * new PollScheduler({ poll, onLaneEvent: (e) => e.type === 'lane-outage' && alert(e.lane) });
 */
export type LaneEvent =
  | { type: 'lane-outage'; lane: string; at: number; until: number; retryAfterMs?: number }
  | { type: 'lane-rate-limited'; lane: string; at: number; until: number; retryAfterMs?: number }
  | { type: 'lane-recovered'; lane: string; at: number; cause: 'unavailable' | 'rate-limited'; since: number; failures: number };

/** How a job is added to the scheduler. */
export interface PollTarget {
  /** The lane (credential) it is polled under; see {@link PollScheduler.defineLane}. */
  lane: string;
  /** Whether the provider also sends webhooks for this job (watchdog mode). */
  hooked: boolean;
  /** When to poll first. @default now + the job's cadence */
  dueAt?: number;
}

/**
 * What the engine asks of a poll scheduler: {@link PollScheduler} in one process, or a shared
 * one (due times, leases and rate budgets in a shared store) when engines form a cluster (see
 * `ClusterBackend`). The semantics are {@link PollScheduler}'s: a shared one also makes sure each
 * due poll is made by one member, and that the whole cluster keeps one rate budget, one
 * Retry-After block and one outage probe per lane.
 */
export interface PollSchedule {
  /** Number of jobs this member knows to be polled (for a shared schedule: its local view). */
  readonly size: number;
  defineLane(key: string, policy: PollPolicy): void;
  add(jobId: string, target: PollTarget): void;
  remove(jobId: string): void;
  has(jobId: string): boolean;
  noteWebhook(jobId: string): void;
  pollNow(jobId: string): void;
  acquire(laneKey: string): Promise<void>;
  reportSuccess(laneKey: string): void;
  reportFailure(laneKey: string, outcome: Extract<PollOutcome, { type: 'rate-limited' | 'unavailable' }>): void;
  /** The health of every defined lane, as of now (see {@link LaneHealth}). */
  lanes(): Promise<LaneHealth[]>;
  close(): void;
}

/**
 * One lane's health at one moment, as {@link PollSchedule.lanes} reports it. Times are the
 * scheduler's clock (Redis's for a shared schedule), epoch milliseconds.
 */
export interface LaneHealth {
  /** The lane's key (`<provider>:<credential hash>`). */
  lane: string;
  /** Jobs polled under it (for a shared schedule: cluster-wide). */
  jobs: number;
  /** The rate budget: calls per second, the bucket's size, the tokens in it now. */
  ratePerSecond: number;
  burst: number;
  tokens: number;
  /** `outage` (5xx, timeouts: one probe at a time) outranks `rate-limited` (429). */
  state: 'ok' | 'rate-limited' | 'outage';
  /** When the current trouble began; `null` when `ok`. */
  since: number | null;
  /** No call goes out before this time (Retry-After, outage backoff); `null` when not blocked. */
  blockedUntil: number | null;
  /** In an outage, the earliest time the next probe may go (in the past: one is out or about to be); else `null`. */
  nextProbeAt: number | null;
  /** Consecutive lane-wide failures (0 when `ok`). */
  failures: number;
}

/** Builds a {@link LaneHealth} from a lane's raw state; shared by the schedules. @internal */
export function laneHealth(raw: {
  lane: string;
  jobs: number;
  policy: PollPolicy;
  tokens: number;
  refilledAt: number;
  blockedUntil: number;
  failures: number;
  trouble: 'unavailable' | 'rate-limited' | undefined;
  troubleSince: number;
  now: number;
}): LaneHealth {
  const { limit, windowMs } = raw.policy.rate;
  const tokens = Math.min(limit, raw.tokens + (Math.max(0, raw.now - raw.refilledAt) * limit) / windowMs);
  const state = raw.trouble === 'unavailable' ? 'outage' : raw.trouble === 'rate-limited' ? 'rate-limited' : 'ok';
  return {
    lane: raw.lane,
    jobs: raw.jobs,
    ratePerSecond: (limit * 1000) / windowMs,
    burst: limit,
    tokens: Math.floor(tokens * 100) / 100,
    state,
    since: state === 'ok' ? null : raw.troubleSince,
    blockedUntil: raw.blockedUntil > raw.now ? raw.blockedUntil : null,
    nextProbeAt: state === 'outage' ? raw.blockedUntil : null,
    failures: raw.failures,
  };
}

interface Lane {
  readonly key: string;
  readonly policy: PollPolicy;
  /** The lane's tick (see {@link PollSchedulerOptions.tickMs}). */
  readonly tickMs: number;
  /** Jobs waiting for their next poll, by due time. */
  readonly queue: DueQueue<Entry>;
  tokens: number;
  refilledAt: number;
  /** No call goes out before this time (Retry-After or outage backoff). */
  blockedUntil: number;
  /** Consecutive credential-wide failures; above 0, only one probe is in flight. */
  failures: number;
  /** What troubles the lane since `troubleSince` (an outage outranks a rate limit), if anything. */
  trouble: 'unavailable' | 'rate-limited' | undefined;
  troubleSince: number;
  /** End of the rate-limit block in force (0: none yet); a 429 before it extends it silently. */
  rateLimitedUntil: number;
  inFlight: number;
  timer: Subscription | undefined;
  timerAt: number;
  pumping: boolean;
  repump: boolean;
  /** A pump is queued in a microtask (see `#settle`). */
  pumpQueued: boolean;
  /** The clock as the last answer read it. */
  settledAt: number;
  readonly waiters: Array<() => void>;
  /** The last token went to a submission (`acquire`): the next goes to a due poll, if any. */
  servedWaiter: boolean;
}

interface Entry extends DueItem {
  readonly jobId: string;
  readonly lane: Lane;
  /** When the next poll is due (the queue rounds it down to the lane's tick). */
  dueAt: number;
  failures: number;
  hooked: boolean;
  lastHookAt: number;
  call: Subscription | undefined;
  /** Still polled: false once removed, finished or closed (a poll in flight then settles into nothing). */
  live: boolean;
  polling: boolean;
  rush: boolean;
}

/**
 * Decides when each unfinished job is polled, for any number of jobs, with one timer per lane
 * (provider credential) rather than one per job: jobs wait in a timer wheel ({@link DueQueue})
 * whose ticks are `tickMs` wide, so one wake-up polls every job due in that tick.
 *
 * Per lane it enforces a token-bucket rate budget shared by all of the lane's jobs, honours
 * `Retry-After`, and on outages (5xx, network) backs the whole lane off with full jitter and lets
 * a single probe through until the provider answers again. A job's own errors back off only that
 * job. Jobs with webhooks are polled as a watchdog (see {@link PollPolicy.watchdog}).
 *
 * @example
 * const polls = new PollScheduler({ poll: (id) => pollJob(id) });
 * polls.defineLane('klangio:ab12', policy);
 * polls.add(jobId, { lane: 'klangio:ab12', hooked: true });
 */
export class PollScheduler implements PollSchedule {
  readonly #poll: (jobId: string) => ObservableInput<PollOutcome>;
  readonly #scheduler: SchedulerLike;
  readonly #random: () => number;
  readonly #tickMs: number;
  readonly #onLaneEvent: ((event: LaneEvent) => void) | undefined;
  readonly #lanes = new Map<string, Lane>();
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(options: PollSchedulerOptions) {
    this.#poll = options.poll;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#random = options.random ?? Math.random;
    this.#tickMs = options.tickMs ?? DEFAULT_POLL_TICK_MS;
    this.#onLaneEvent = options.onLaneEvent;
  }

  /** Number of jobs being polled. */
  get size(): number {
    return this.#entries.size;
  }

  /** Declares a lane. Declaring an existing lane again keeps the first policy. */
  defineLane(key: string, policy: PollPolicy): void {
    if (this.#lanes.has(key)) return;
    const tickMs = Math.max(1, Math.min(this.#tickMs, Math.floor(policy.intervalMs / 50)));
    this.#lanes.set(key, {
      key,
      policy,
      tickMs,
      queue: new DueQueue<Entry>(tickMs),
      tokens: policy.rate.limit,
      refilledAt: this.#scheduler.now(),
      blockedUntil: 0,
      failures: 0,
      trouble: undefined,
      troubleSince: 0,
      rateLimitedUntil: 0,
      inFlight: 0,
      timer: undefined,
      timerAt: Infinity,
      pumping: false,
      repump: false,
      pumpQueued: false,
      settledAt: 0,
      waiters: [],
      servedWaiter: false,
    });
  }

  /** Starts polling a job. Adding a job that is already polled does nothing. */
  add(jobId: string, target: PollTarget): void {
    if (this.#closed || this.#entries.has(jobId)) return;
    const lane = this.#lanes.get(target.lane);
    if (lane === undefined) throw new Error(`poll lane "${target.lane}" is not defined`);
    const now = this.#scheduler.now();
    const entry: Entry = {
      jobId,
      lane,
      dueAt: 0,
      failures: 0,
      hooked: target.hooked,
      lastHookAt: now,
      call: undefined,
      live: true,
      polling: false,
      rush: false,
      dueSeq: 0,
    };
    entry.dueAt = target.dueAt ?? now + this.#cadence(entry, now);
    this.#entries.set(jobId, entry);
    this.#schedule(entry);
    this.#pump(lane);
  }

  /** Stops polling a job (it finished, or was canceled). A poll in flight is left to settle. */
  remove(jobId: string): void {
    const entry = this.#entries.get(jobId);
    if (entry === undefined) return;
    this.#entries.delete(jobId);
    entry.live = false;
    entry.lane.queue.remove(entry);
  }

  /** Whether this job is being polled. */
  has(jobId: string): boolean {
    return this.#entries.has(jobId);
  }

  /** A webhook arrived for this job: the channel works, so the next poll can wait. */
  noteWebhook(jobId: string): void {
    const entry = this.#entries.get(jobId);
    if (entry === undefined) return;
    const now = this.#scheduler.now();
    entry.hooked = true;
    entry.lastHookAt = now;
    const quietMs = entry.lane.policy.watchdog?.quietMs;
    if (quietMs === undefined || entry.polling || entry.rush) return;
    entry.dueAt = Math.max(entry.dueAt, now + quietMs);
    this.#schedule(entry);
    this.#pump(entry.lane);
  }

  /**
   * Polls this job as soon as the lane's budget allows, to confirm a webhook that announced a
   * change without its data. Until the next webhook, the job is then polled at the normal
   * interval rather than the watchdog's quiet one: the provider may lag behind its webhook.
   */
  pollNow(jobId: string): void {
    const entry = this.#entries.get(jobId);
    if (entry === undefined) return;
    entry.lastHookAt = -Infinity;
    if (entry.polling) {
      entry.rush = true;
      return;
    }
    entry.dueAt = Math.min(entry.dueAt, this.#scheduler.now());
    this.#schedule(entry);
    this.#pump(entry.lane);
  }

  /**
   * Waits for a slot in the lane's budget for a call that is not a poll (a submission): such
   * calls go before due polls, respect `Retry-After` and take a token. Report a failed call with
   * {@link reportFailure} so that the whole lane slows down.
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

  /** Tells the lane that a call made after {@link acquire} got an answer: the provider is back. */
  reportSuccess(laneKey: string): void {
    const lane = this.#lanes.get(laneKey);
    if (lane === undefined || lane.failures === 0) return;
    this.#recover(lane, this.#scheduler.now());
    this.#pump(lane);
  }

  /** Tells the lane that a call made after {@link acquire} was rate-limited or found the provider down. */
  reportFailure(laneKey: string, outcome: Extract<PollOutcome, { type: 'rate-limited' | 'unavailable' }>): void {
    const lane = this.#lanes.get(laneKey);
    if (lane === undefined) return;
    this.#slowLane(lane, outcome, this.#scheduler.now());
    this.#pump(lane);
  }

  /** The health of every defined lane, as of now: rate budget, blocks, outage state, job count. */
  lanes(): Promise<LaneHealth[]> {
    const now = this.#scheduler.now();
    const jobs = new Map<Lane, number>();
    for (const entry of this.#entries.values()) jobs.set(entry.lane, (jobs.get(entry.lane) ?? 0) + 1);
    return Promise.resolve(
      [...this.#lanes.values()].map((lane) =>
        laneHealth({
          lane: lane.key,
          jobs: jobs.get(lane) ?? 0,
          policy: lane.policy,
          tokens: lane.tokens,
          refilledAt: lane.refilledAt,
          blockedUntil: lane.blockedUntil,
          failures: lane.failures,
          trouble: lane.trouble,
          troubleSince: lane.troubleSince,
          now,
        }),
      ),
    );
  }

  /** Stops every timer, abandons polls in flight and releases every `acquire` waiter. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of this.#lanes.values()) {
      lane.timer?.unsubscribe();
      lane.timer = undefined;
      for (const waiter of lane.waiters.splice(0)) waiter();
    }
    for (const entry of this.#entries.values()) {
      entry.live = false;
      entry.call?.unsubscribe();
    }
    this.#entries.clear();
  }

  #schedule(entry: Entry): void {
    entry.lane.queue.push(entry, entry.dueAt);
  }

  #cadence(entry: Entry, now: number): number {
    const watchdog = entry.lane.policy.watchdog;
    if (!entry.hooked || watchdog === undefined) return entry.lane.policy.intervalMs;
    const quietUntil = entry.lastHookAt + watchdog.quietMs;
    return quietUntil > now ? quietUntil - now : entry.lane.policy.intervalMs;
  }

  // Re-entrant calls (a poll that settles synchronously) only ask for another round.
  #pump(lane: Lane): void {
    if (lane.pumping) {
      lane.repump = true;
      return;
    }
    lane.pumping = true;
    try {
      do {
        lane.repump = false;
        this.#pumpOnce(lane);
      } while (lane.repump && !this.#closed);
    } finally {
      lane.pumping = false;
    }
  }

  #pumpOnce(lane: Lane): void {
    if (this.#closed) return;
    const now = this.#scheduler.now();
    const { policy } = lane;
    lane.tokens = Math.min(policy.rate.limit, lane.tokens + ((now - lane.refilledAt) * policy.rate.limit) / policy.rate.windowMs);
    lane.refilledAt = now;
    for (;;) {
      if (now < lane.blockedUntil) return this.#arm(lane, lane.blockedUntil, now);
      const waiter = lane.waiters[0];
      const top = lane.queue.peek();
      const topAt = lane.queue.nextAt();
      // A busy lane resumes when a poll settles; a lane in trouble sends one probe at a time.
      const pollFree = lane.inFlight < policy.maxInFlight && !(lane.failures > 0 && lane.inFlight > 0);
      const pollDue = top !== undefined && pollFree && topAt <= now;
      // Submissions go before due polls, but not twice in a row while a poll is due: a steady
      // stream of submissions must not starve the polls that finish the jobs already submitted.
      const serveWaiter = waiter !== undefined && !(pollDue && lane.servedWaiter);
      if (!serveWaiter) {
        if (top === undefined || !pollFree) return;
        if (topAt > now) return this.#arm(lane, topAt, now);
      }
      if (lane.tokens < 1) {
        const wait = Math.ceil(((1 - lane.tokens) * policy.rate.windowMs) / policy.rate.limit);
        return this.#arm(lane, now + Math.max(1, wait), now);
      }
      lane.tokens -= 1;
      lane.servedWaiter = serveWaiter;
      if (serveWaiter) {
        lane.waiters.shift();
        (waiter)();
      } else if (top !== undefined) {
        lane.queue.pop();
        this.#start(top);
      }
    }
  }

  #arm(lane: Lane, at: number, now: number): void {
    at = Math.ceil(at / lane.tickMs) * lane.tickMs;
    if (lane.timer !== undefined && lane.timerAt <= at) return;
    lane.timer?.unsubscribe();
    lane.timerAt = at;
    lane.timer = this.#scheduler.schedule(() => {
      lane.timer = undefined;
      lane.timerAt = Infinity;
      this.#pump(lane);
    }, at - now);
  }

  #start(entry: Entry): void {
    entry.polling = true;
    entry.lane.inFlight += 1;
    let source: ObservableInput<PollOutcome>;
    try {
      source = this.#poll(entry.jobId);
    } catch {
      this.#settle(entry, FAILED, true);
      return;
    }
    if (isPromiseLike(source)) {
      // The engine's polls are promises: settle straight from them (an Observable per poll
      // cost most of a poll's scheduling time), with no closure kept per poll beyond these two.
      // A promise settles once; `close` cannot abort one, so a late answer is ignored by `#settle`.
      source.then(
        (outcome) => this.#settle(entry, outcome, false),
        () => this.#settle(entry, FAILED, false),
      );
      return;
    }
    let settled = false;
    const settle = (outcome: PollOutcome): void => {
      if (settled) return;
      settled = true;
      entry.call = undefined;
      this.#settle(entry, outcome, true);
    };
    const call = from(source)
      .pipe(take(1))
      .subscribe({
        next: settle,
        error: () => settle(FAILED),
        complete: () => settle(FAILED),
      });
    if (!settled) entry.call = call;
  }

  /**
   * `pumpNow`: pump the lane at once (a synchronous or Observable poll, possibly in virtual
   * time). Promise settlements arrive as microtasks, often many in one checkpoint (a batch of
   * polls answered together): they ask for one pump in a microtask after them, not one each.
   */
  #settle(entry: Entry, outcome: PollOutcome, pumpNow: boolean): void {
    const { lane } = entry;
    lane.inFlight -= 1;
    entry.polling = false;
    if (this.#closed) return;
    // Answers that settle together (one microtask checkpoint) share one reading of the clock.
    const now = pumpNow || !lane.pumpQueued ? this.#scheduler.now() : lane.settledAt;
    lane.settledAt = now;
    if (entry.live) {
      switch (outcome.type) {
        case 'ok':
          this.#recover(lane, now);
          entry.failures = 0;
          if (outcome.terminal) {
            entry.live = false;
            this.#entries.delete(entry.jobId);
          } else {
            entry.dueAt = entry.rush ? now : now + this.#cadence(entry, now);
            this.#schedule(entry);
          }
          break;
        case 'rate-limited':
        case 'unavailable':
          this.#slowLane(lane, outcome, now);
          // Behind every job that was already due, so the next probe is another job.
          entry.dueAt = lane.blockedUntil;
          this.#schedule(entry);
          break;
        case 'failed':
          entry.failures += 1;
          entry.dueAt = now + Math.max(this.#cadence(entry, now), fullJitter(entry.failures, lane.policy.backoff, this.#random));
          this.#schedule(entry);
          break;
      }
      entry.rush = false;
    }
    if (pumpNow) this.#pump(lane);
    else if (!lane.pumpQueued) {
      lane.pumpQueued = true;
      queueMicrotask(() => {
        lane.pumpQueued = false;
        this.#pump(lane);
      });
    }
  }

  #slowLane(lane: Lane, outcome: Extract<PollOutcome, { type: 'rate-limited' | 'unavailable' }>, now: number): void {
    lane.failures += 1;
    const jitter = fullJitter(lane.failures, lane.policy.backoff, this.#random);
    const probe = Math.min(jitter, lane.policy.outageProbeMs ?? DEFAULT_OUTAGE_PROBE_MS);
    const wait = outcome.type === 'rate-limited' ? (outcome.retryAfterMs ?? jitter) : Math.max(outcome.retryAfterMs ?? 0, probe);
    if (outcome.type === 'rate-limited') lane.tokens = 0;
    lane.blockedUntil = Math.max(lane.blockedUntil, now + wait);
    const previous = lane.trouble;
    if (previous === undefined) lane.troubleSince = now;
    lane.trouble = previous === 'unavailable' ? 'unavailable' : outcome.type;
    const retryAfter = outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs };
    if (outcome.type === 'unavailable' && previous !== 'unavailable') {
      this.#onLaneEvent?.({ type: 'lane-outage', lane: lane.key, at: now, until: lane.blockedUntil, ...retryAfter });
    } else if (outcome.type === 'rate-limited') {
      const newBlock = now >= lane.rateLimitedUntil;
      lane.rateLimitedUntil = lane.blockedUntil;
      if (newBlock) this.#onLaneEvent?.({ type: 'lane-rate-limited', lane: lane.key, at: now, until: lane.blockedUntil, ...retryAfter });
    }
  }

  /** A call of the lane got an answer: its trouble, if any, is over. */
  #recover(lane: Lane, now: number): void {
    const { trouble, troubleSince, failures } = lane;
    lane.failures = 0;
    lane.trouble = undefined;
    if (trouble !== undefined) this.#onLaneEvent?.({ type: 'lane-recovered', lane: lane.key, at: now, cause: trouble, since: troubleSince, failures });
  }
}

function isPromiseLike<T>(value: ObservableInput<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}
