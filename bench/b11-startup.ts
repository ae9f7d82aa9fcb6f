import { BenchChild } from './lib/child.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

/**
 * B11: start-up with 100,000 stored jobs (10% unfinished): the time `createEngine` takes to load
 * the data directory and resume, and the time until every unfinished job has been polled once,
 * against reading the same files with `JSON.parse`. Each measurement in a fresh child process,
 * the engine and the baseline interleaved, on one prepared directory (the page cache warm for both).
 */
export async function startup(options: BenchOptions): Promise<Row[]> {
  const jobs = options.quick ? 20_000 : 100_000;
  const unfinished = Math.round(jobs * 0.1);
  const child = () => BenchChild.start(new URL('./lib/startup-probe.ts', import.meta.url));
  const preparer = await child();
  const { dir, bytes } = await preparer.call<{ dir: string; bytes: number }>('prepare', { jobs, finished: 0.9 }, 600_000);
  await preparer.call('note', { dir });
  const engine: { startMs: number; checkedMs: number }[] = [];
  const parse: { startMs: number; jobs: number }[] = [];
  try {
    for (let round = 0; round < options.rounds; round++) {
      const a = await child();
      try {
        engine.push(await a.call<{ startMs: number; checkedMs: number }>('engine', { dir, unfinished }, 600_000));
      } finally {
        await a.stop();
      }
      const b = await child();
      try {
        parse.push(await b.call<{ startMs: number; jobs: number }>('parse', { dir }, 600_000));
      } finally {
        await b.stop();
      }
      options.log(`B11 round ${round + 1}/${options.rounds}: start ${fmt(engine.at(-1)!.startMs)} ms, all checked ${fmt(engine.at(-1)!.checkedMs)} ms | JSON.parse ${fmt(parse.at(-1)!.startMs)} ms`);
    }
  } finally {
    await preparer.call('remove', { dir });
    await preparer.stop();
  }
  const start = median(engine.map((r) => r.startMs));
  const checked = median(engine.map((r) => r.checkedMs));
  const baseline = median(parse.map((r) => r.startMs));
  const size = `${jobs.toLocaleString('en-US')} stored jobs (${unfinished.toLocaleString('en-US')} unfinished, ${fmt(bytes / 1024 / 1024)} MiB)`;
  return [
    {
      id: 'B11',
      measure: `start-up with ${size}`,
      engine: `${fmt(start)} ms`,
      baseline: `${fmt(baseline)} ms (JSON.parse)`,
      ratio: start / baseline,
      target: 'report',
      met: undefined,
      details: { jobs, unfinished, bytes, ratioRange: range(engine.map((r, i) => r.startMs / parse[i]!.startMs)), engine, parse },
    },
    {
      id: 'B11',
      measure: 'until every unfinished job was polled once (same runs)',
      engine: `${fmt(checked)} ms`,
      baseline: `${fmt(baseline)} ms (JSON.parse)`,
      ratio: checked / baseline,
      target: 'report',
      met: undefined,
      details: { checkedRange: range(engine.map((r) => r.checkedMs)) },
    },
  ];
}
