import { asyncScheduler, VirtualTimeScheduler, type SchedulerLike } from 'rxjs';
import type { CallContext, CreateJobRequest, CreateJobResult, ProviderAdapter, ProviderJobRef, ProviderReport } from '../src/streams/provider-port.js';
import { createEngine } from '../src/streams/engine.js';
import { ProviderError } from '../src/streams/errors.js';
import type { PollPolicy } from '../src/streams/poll-scheduler.js';
import { makeStoredJobs, PreloadedStore } from './lib/fixtures.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';
import { runVirtualClock, seededRandom } from './lib/virtual-clock.js';

const JOBS = 100;
const S = 1000;
/** A Klangio-like policy: every 10 s, backoff from 1 s to 60 s, 20 calls/s, 8 in flight. */
const POLICY: PollPolicy = { intervalMs: 10 * S, backoff: { initialMs: 1 * S, maxMs: 60 * S }, rate: { limit: 20, windowMs: S }, maxInFlight: 8 };

type Phase = 'ok' | '503' | '429';

/** The simulated provider's day: healthy, a 5-minute outage (503), healthy, a minute of 429s, healthy. */
const TIMELINE: { from: number; phase: Phase; name: string }[] = [
  { from: 0, phase: 'ok', name: 'warm-up' },
  { from: 60 * S, phase: '503', name: 'outage (503)' },
  { from: 360 * S, phase: 'ok', name: 'after the outage' },
  { from: 480 * S, phase: '429', name: '429 phase' },
  { from: 540 * S, phase: 'ok', name: 'after the 429s' },
];
const END = 660 * S;
const RETRY_AFTER = 20 * S;

interface Run {
  /**
   * Provider calls during each failure window (the 503 outage, the 429 phase) and after it,
   * until every job has been polled successfully again (the recovery, with any stampede).
   */
  calls: number;
  /** The same, per window: calls during, calls after, and how long the recovery took. */
  windows: { name: string; during: number; after: number; recoveryMs: number }[];
  /** Every call from the outage on, by phase of the day (healthy polling included). */
  byPhase: Record<string, number>;
  /** Calls made while a Retry-After announced earlier had not passed yet. */
  violations: number;
}

/**
 * B7: provider calls during and after a simulated outage, 100 polled jobs: the engine (one lane
 * for the credential: one probe at a time, full-jitter backoff, Retry-After for the whole lane)
 * against each job retrying on its own with un-jittered exponential backoff (1, 2, 4 … 60 s,
 * honouring Retry-After for itself). Runs in virtual time (the engine's injected scheduler), so
 * a ten-minute day takes a moment and the Retry-After check is exact; rounds differ in the
 * engine's jitter. A short real-clock run checks Retry-After against real timers too.
 */
export async function outage(options: BenchOptions): Promise<Row[]> {
  let seed = 0;
  const { a, b } = await interleave(
    { rounds: options.rounds, warmup: false, log: options.log, label: 'B7', show: (r) => showRun(r as Run) },
    () => runEngine(seededRandom(++seed)),
    () => runPerJob(),
  );
  const realClock = await realClockCheck();
  options.log(`B7 real-clock Retry-After check: ${JSON.stringify(realClock)}`);
  const engine = median(a.map((r) => r.calls));
  const perJob = median(b.map((r) => r.calls));
  const violations = a.reduce((n, r) => n + r.violations, 0) + realClock.violations;
  return [
    {
      id: 'B7',
      measure: `provider calls, ${JOBS} jobs, during a 5-min 503 outage and a 1-min 429 phase and until all jobs recover`,
      engine: `${fmt(engine)} calls`,
      baseline: `${fmt(perJob)} calls`,
      ratio: engine / perJob,
      target: '≤ 0.6x',
      met: engine / perJob <= 0.6,
      details: {
        policy: POLICY,
        timeline: TIMELINE,
        endMs: END,
        retryAfterMs: RETRY_AFTER,
        ratioRange: range(a.map((r) => r.calls / perJob)),
        engineByPhase: medianByPhase(a),
        perJobByPhase: medianByPhase(b),
        engineWindows: medianWindows(a),
        perJobWindows: medianWindows(b),
        engine: a,
        perJob: b,
        realClock,
      },
    },
    ...outageRows(medianWindows(a), medianWindows(b)),
    {
      id: 'B7',
      measure: 'calls before a Retry-After deadline (all rounds + real clock)',
      engine: `${violations}`,
      baseline: `${median(b.map((r) => r.violations))}`,
      ratio: undefined,
      target: 'engine 0',
      met: violations === 0,
    },
  ];
}

function phaseAt(t: number): { phase: Phase; name: string } {
  let current = TIMELINE[0]!;
  for (const entry of TIMELINE) if (t >= entry.from) current = entry;
  return current;
}

/** A provider following {@link TIMELINE} on a given clock, counting calls and Retry-After violations. */
class FlakyProvider implements ProviderAdapter {
  readonly provider = 'flaky';
  readonly kinds = ['transcription'] as const;
  readonly webhooks = false;
  readonly credentialId = 'key';
  readonly pollPolicy: PollPolicy;
  readonly byPhase: Record<string, number> = {};
  /** Every call: when, for which job, and whether it was answered. */
  readonly log: { t: number; job: string; ok: boolean }[] = [];
  violations = 0;
  /** The latest Retry-After deadline the caller has been told about. */
  #deadline = 0;
  readonly #clock: SchedulerLike;
  readonly #phaseAt: (t: number) => { phase: Phase; name: string };
  readonly #retryAfterMs: number;

  constructor(clock: SchedulerLike, phase: (t: number) => { phase: Phase; name: string }, retryAfterMs: number, policy: PollPolicy) {
    this.#clock = clock;
    this.#phaseAt = phase;
    this.#retryAfterMs = retryAfterMs;
    this.pollPolicy = policy;
  }

  create(_request: CreateJobRequest, _context: CallContext): Promise<CreateJobResult> {
    return Promise.reject(new ProviderError(this.provider, 'rejected', 'not in this benchmark'));
  }

  poll(job: ProviderJobRef, _context?: CallContext): Promise<ProviderReport> {
    const t = this.#clock.now();
    const { phase, name } = this.#phaseAt(t);
    if (name !== 'warm-up') this.byPhase[name] = (this.byPhase[name] ?? 0) + 1;
    this.log.push({ t, job: job.externalId, ok: phase === 'ok' });
    if (t < this.#deadline) this.violations += 1;
    if (phase === '503') return Promise.reject(new ProviderError(this.provider, 'unavailable', 'HTTP 503', { status: 503 }));
    if (phase === '429') {
      const deadline = t + this.#retryAfterMs;
      // The caller learns of the deadline when it reads the answer, not while it is still
      // sending the calls of the same burst.
      queueMicrotask(() => (this.#deadline = Math.max(this.#deadline, deadline)));
      return Promise.reject(new ProviderError(this.provider, 'rate-limited', 'HTTP 429', { status: 429, retryAfterMs: this.#retryAfterMs }));
    }
    return Promise.resolve({ status: 'running', providerStatus: 'RUNNING', progress: 0.5 });
  }
}

/** Calls during each failure window and during the recovery after it (see {@link Run}). */
function tally(provider: FlakyProvider): Pick<Run, 'calls' | 'windows' | 'byPhase' | 'violations'> {
  const windows: Run['windows'] = [];
  TIMELINE.forEach((entry, i) => {
    if (entry.phase === 'ok') return;
    const to = TIMELINE[i + 1]?.from ?? END;
    const limit = TIMELINE[i + 2]?.from ?? END;
    const firstOk = new Map<string, number>();
    for (const call of provider.log) if (call.ok && call.t >= to && call.t < limit && !firstOk.has(call.job)) firstOk.set(call.job, call.t);
    const recoveredAt = firstOk.size < JOBS ? limit : Math.max(...firstOk.values());
    windows.push({
      name: entry.name,
      during: provider.log.filter((c) => c.t >= entry.from && c.t < to).length,
      after: provider.log.filter((c) => c.t >= to && c.t <= recoveredAt).length,
      recoveryMs: firstOk.size < JOBS ? Infinity : recoveredAt - to,
    });
  });
  return { calls: windows.reduce((n, w) => n + w.during + w.after, 0), windows, byPhase: provider.byPhase, violations: provider.violations };
}

async function runEngine(random: () => number): Promise<Run> {
  const clock = new VirtualTimeScheduler();
  const provider = new FlakyProvider(clock, phaseAt, RETRY_AFTER, POLICY);
  const engine = await createEngine({ providers: [provider], store: new PreloadedStore(makeStoredJobs('flaky', JOBS)), resultsDir: false, scheduler: clock, random });
  await runVirtualClock(clock, END);
  await engine.close();
  return tally(provider);
}

/** The baseline: every job polls on its own, backing off 1, 2, 4 … 60 s on failures. */
async function runPerJob(): Promise<Run> {
  const clock = new VirtualTimeScheduler();
  const provider = new FlakyProvider(clock, phaseAt, RETRY_AFTER, POLICY);
  const jobs = makeStoredJobs('flaky', JOBS).map(({ job }) => ({ externalId: job.externalId!, kind: job.kind, options: job.options }));
  const subscriptions = jobs.map((ref, k) => {
    let failures = 0;
    const attempt = (): void => {
      provider.poll(ref).then(
        () => {
          failures = 0;
          clock.schedule(attempt, POLICY.intervalMs);
        },
        (error: unknown) => {
          failures += 1;
          const backoff = Math.min(POLICY.backoff.maxMs, POLICY.backoff.initialMs * 2 ** (failures - 1));
          const retryAfter = error instanceof ProviderError ? (error.retryAfterMs ?? 0) : 0;
          clock.schedule(attempt, Math.max(backoff, retryAfter));
        },
      );
    };
    // Spread over one interval, as jobs submitted at different times would be.
    return clock.schedule(attempt, Math.round((k / JOBS) * POLICY.intervalMs));
  });
  await runVirtualClock(clock, END);
  for (const subscription of subscriptions) subscription.unsubscribe();
  clock.actions.splice(0);
  return tally(provider);
}

/**
 * The same engine on the real clock (asyncScheduler, real timers), scaled down: a job polled
 * every 200 ms, 429 with Retry-After 300 ms for 1.5 s. Checks no call goes out before a deadline.
 */
async function realClockCheck(): Promise<{ calls: number; violations: number }> {
  const t0 = Date.now();
  const timeline = (t: number) => {
    const since = t - t0;
    return since >= 500 && since < 2000 ? { phase: '429' as const, name: '429 phase' } : { phase: 'ok' as const, name: since < 500 ? 'warm-up' : 'after' };
  };
  const policy: PollPolicy = { intervalMs: 200, backoff: { initialMs: 50, maxMs: 1000 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 8 };
  const provider = new FlakyProvider(asyncScheduler, timeline, 300, policy);
  const engine = await createEngine({ providers: [provider], store: new PreloadedStore(makeStoredJobs('flaky', JOBS)), resultsDir: false });
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await engine.close();
  return { calls: provider.log.length, violations: provider.violations };
}

function medianByPhase(runs: readonly Run[]): Record<string, number> {
  const names = new Set(runs.flatMap((r) => Object.keys(r.byPhase)));
  return Object.fromEntries([...names].map((name) => [name, median(runs.map((r) => r.byPhase[name] ?? 0))]));
}

function medianWindows(runs: readonly Run[]): Run['windows'] {
  return runs[0]!.windows.map((w, i) => ({
    name: w.name,
    during: median(runs.map((r) => r.windows[i]!.during)),
    after: median(runs.map((r) => r.windows[i]!.after)),
    recoveryMs: median(runs.map((r) => r.windows[i]!.recoveryMs)),
  }));
}

function showRun(r: Run): string {
  const windows = r.windows.map((w) => `${w.name}: ${w.during} during + ${w.after} after (recovered in ${fmt(w.recoveryMs / 1000)} s)`).join('; ');
  return `${r.calls} calls [${windows}] Retry-After violations ${r.violations}`;
}

/**
 * Issue #14's two outage figures, each its own row: how long after the provider came back every
 * job had been polled successfully again ("time to notice recovery"), and the calls made during
 * the outage itself, both against the per-job un-jittered baseline.
 */
function outageRows(engine: Run['windows'], perJob: Run['windows']): Row[] {
  const e = engine.find((w) => w.name === 'outage (503)');
  const p = perJob.find((w) => w.name === 'outage (503)');
  if (e === undefined || p === undefined) return [];
  return [
    {
      id: 'B7',
      measure: 'time to notice recovery after the 5-min outage (every job polled OK again) ÷ per-job un-jittered baseline',
      engine: `${fmt(e.recoveryMs / 1000)} s`,
      baseline: `${fmt(p.recoveryMs / 1000)} s`,
      ratio: e.recoveryMs / p.recoveryMs,
      target: '≤ 1.0x',
      met: e.recoveryMs <= p.recoveryMs,
    },
    {
      id: 'B7',
      measure: 'provider calls during the 5-min outage',
      engine: `${fmt(e.during)} calls`,
      baseline: `${fmt(p.during)} calls`,
      ratio: e.during / p.during,
      target: '≤ 0.2x',
      met: e.during / p.during <= 0.2,
    },
  ];
}
