import { performance } from 'node:perf_hooks';
import { PollScheduler, type PollOutcome } from '../src/streams/poll-scheduler.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

const OK: PollOutcome = { type: 'ok', terminal: false };

interface Run {
  /** Event-loop utilisation over the measured window (0–1). */
  elu: number;
  /** Polls made per second during the window. */
  pollsPerSecond: number;
}

/**
 * B6: the cost of polling itself. 100,000 jobs polled every 5 s (20,000 polls/s) by the
 * PollScheduler (its default 20 ms tick, as the engine uses it) against a no-op provider (`poll`
 * resolves a promise of ok, as the engine's polls are promises), against one shared
 * `setInterval` that visits every record once per interval and calls the same `poll`. Event-loop
 * utilisation over whole intervals, after half an interval of warm-up.
 */
export async function polling(options: BenchOptions): Promise<Row[]> {
  // 100,000 jobs every 5 s (20,000 polls/s) in both modes, the size the issue names: with
  // 10,000 jobs the ticker's records stay in the CPU cache and the ratio measures that instead.
  // Quick mode measures one interval per round instead of two; both run a warm-up round.
  const jobs = 100_000;
  const intervalMs = 5000;
  const intervals = options.quick ? 1 : 2;
  const { a, b } = await interleave(
    { rounds: options.rounds, warmup: true, log: options.log, label: 'B6', show: (r) => `ELU ${((r as Run).elu * 100).toFixed(2)}% at ${fmt((r as Run).pollsPerSecond)} polls/s` },
    () => runScheduler(jobs, intervalMs, intervals),
    () => runTicker(jobs, intervalMs, intervals),
  );
  const engine = median(a.map((r) => r.elu));
  const ticker = median(b.map((r) => r.elu));
  return [
    {
      id: 'B6',
      measure: `polling ${jobs.toLocaleString('en-US')} jobs every ${intervalMs / 1000} s: event-loop utilisation`,
      engine: `${(engine * 100).toFixed(2)}%`,
      baseline: `${(ticker * 100).toFixed(2)}%`,
      ratio: engine / ticker,
      target: '≤ 3x',
      met: engine / ticker <= 3,
      details: { jobs, intervalMs, intervals, ratioRange: range(a.map((r, i) => r.elu / b[i]!.elu)), scheduler: a, ticker: b },
    },
  ];
}

/** Waits half an interval, then measures ELU and polls over `intervals` whole intervals. */
async function measure(intervalMs: number, intervals: number, polls: () => number): Promise<Run> {
  await sleep(intervalMs / 2);
  const before = polls();
  const start = performance.eventLoopUtilization();
  await sleep(intervalMs * intervals);
  const elu = performance.eventLoopUtilization(start).utilization;
  return { elu, pollsPerSecond: (polls() - before) / ((intervalMs * intervals) / 1000) };
}

async function runScheduler(jobs: number, intervalMs: number, intervals: number): Promise<Run> {
  let polls = 0;
  const poll = (): Promise<PollOutcome> => {
    polls += 1;
    return Promise.resolve(OK);
  };
  const scheduler = new PollScheduler({ poll });
  // A budget twice what the cadence needs, so only the cadence decides when polls go out.
  scheduler.defineLane('bench', { intervalMs, backoff: { initialMs: 1000, maxMs: 60_000 }, rate: { limit: jobs, windowMs: intervalMs / 2 }, maxInFlight: 1000 });
  const now = Date.now();
  for (let i = 0; i < jobs; i++) scheduler.add(`job-${i}`, { lane: 'bench', hooked: false, dueAt: now + (i / jobs) * intervalMs });
  try {
    return await measure(intervalMs, intervals, () => polls);
  } finally {
    scheduler.close();
  }
}

async function runTicker(jobs: number, intervalMs: number, intervals: number): Promise<Run> {
  let polls = 0;
  const poll = (): Promise<PollOutcome> => {
    polls += 1;
    return Promise.resolve(OK);
  };
  const records = Array.from({ length: jobs }, (_, i) => ({ id: `job-${i}`, last: '' }));
  const timer = setInterval(() => {
    for (const record of records) {
      void poll().then((outcome) => {
        record.last = outcome.type;
      });
    }
  }, intervalMs);
  try {
    return await measure(intervalMs, intervals, () => polls);
  } finally {
    clearInterval(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
