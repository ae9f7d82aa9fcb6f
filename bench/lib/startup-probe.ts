/**
 * Child process (fresh for every measurement) for B11: how long an engine takes to start on a
 * data directory of stored jobs, and until every unfinished job has been polled once; or, as
 * the baseline, how long reading the same data with `JSON.parse` takes.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import { serveParent } from './child-side.js';
import { makeStoredJobs, StillRunningProvider } from './fixtures.js';

serveParent({
  /** Writes a data directory of `jobs` stored jobs, `finished` of them terminal, as one snapshot. */
  async prepare(args: { jobs: number; finished: number }): Promise<{ dir: string; bytes: number }> {
    const dir = await mkdtemp(join(tmpdir(), 'jobstream-bench-b11-'));
    const store = await FileStore.open({ dir });
    await store.load();
    const stored = makeStoredJobs('noop', args.jobs, args.finished).map((job, i) => ({ ...job, seq: i + 1, previousStatus: null }));
    for (let i = 0; i < stored.length; i += 5000) await store.append(stored.slice(i, i + 5000));
    await store.compact(() => stored);
    await store.close();
    let bytes = 0;
    for (const file of await readdir(dir)) if (file.endsWith('.json') || file.endsWith('.jsonl')) bytes += (await readFile(join(dir, file))).length;
    return { dir, bytes };
  },

  /** Starts an engine on `dir`; resolves with the time to `createEngine` and until each unfinished job was polled once. */
  async engine(args: { dir: string; unfinished: number }): Promise<{ startMs: number; checkedMs: number }> {
    // Polls as fast as the lane lets them: a budget of the whole set per second.
    const provider = new StillRunningProvider('noop', { intervalMs: 3_600_000, backoff: { initialMs: 1000, maxMs: 60_000 }, rate: { limit: args.unfinished, windowMs: 1000 }, maxInFlight: 1000 });
    const started = performance.now();
    const engine = await createEngine({ providers: [provider], dataDir: args.dir, resultsDir: false });
    const startMs = performance.now() - started;
    while (provider.polls < args.unfinished) await new Promise((resolve) => setImmediate(resolve));
    const checkedMs = performance.now() - started;
    await engine.close();
    return { startMs, checkedMs };
  },

  /** The baseline: the same bytes read and parsed with JSON.parse, line by line for the journal. */
  async parse(args: { dir: string }): Promise<{ startMs: number; jobs: number }> {
    const started = performance.now();
    let jobs = 0;
    for (const file of await readdir(args.dir)) {
      if (file === 'jobs.json') jobs += (JSON.parse(await readFile(join(args.dir, file), 'utf8')) as { jobs: unknown[] }).jobs.length;
      else if (file.endsWith('.jsonl')) for (const line of (await readFile(join(args.dir, file), 'utf8')).split('\n')) if (line !== '') JSON.parse(line);
    }
    return { startMs: performance.now() - started, jobs };
  },

  async remove(args: { dir: string }): Promise<null> {
    await rm(args.dir, { recursive: true, force: true });
    return null;
  },

  /** Leaves a note where the directory is (for a run that was interrupted). */
  async note(args: { dir: string }): Promise<null> {
    await writeFile(join(args.dir, 'bench-b11'), 'jobstream benchmark data, safe to delete\n');
    return null;
  },
});
