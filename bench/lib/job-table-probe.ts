/**
 * Child process (run with --expose-gc, fresh for every measurement): the heap cost of tracking
 * `jobs` idle jobs, either in the engine (restored from a store, every job waiting in the poll
 * scheduler) or in a plain Map of the same records. Heap after GC, before and after.
 */
import { createEngine } from '../../src/streams/engine.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { serveParent, settledHeap } from './child-side.js';
import { makeStoredJobs, PreloadedStore, StillRunningProvider } from './fixtures.js';

serveParent({
  async measure(args: { variant: 'engine' | 'map'; jobs: number }) {
    const provider = new StillRunningProvider();
    // Warm up: load and run every code path once, so lazy allocations are not counted per job.
    const warm = await createEngine({ providers: [provider], store: new PreloadedStore(makeStoredJobs('noop', 10)), resultsDir: false });
    await warm.close();
    new Map(makeStoredJobs('noop', 10).map((stored) => [stored.job.id, stored]));

    const before = await settledHeap();
    let kept: { size: number; close?: () => Promise<void> };
    if (args.variant === 'map') {
      const map = new Map<string, StoredJob>();
      for (const stored of makeStoredJobs('noop', args.jobs)) map.set(stored.job.id, stored);
      kept = map;
    } else {
      const engine = await createEngine({ providers: [provider], store: new PreloadedStore(makeStoredJobs('noop', args.jobs)), resultsDir: false });
      kept = { size: engine.snapshot().jobs.length, close: () => engine.close() };
    }
    const after = await settledHeap();
    const tracked = kept.size;
    await kept.close?.();
    if (tracked !== args.jobs) throw new Error(`${args.variant} tracks ${tracked} jobs, expected ${args.jobs}`);
    return { bytesPerJob: (after - before) / args.jobs, before, after, polls: provider.polls };
  },
});
