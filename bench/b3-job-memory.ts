import { BenchChild } from './lib/child.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

interface Probe {
  bytesPerJob: number;
  before: number;
  after: number;
  polls: number;
}

/**
 * B3: heap per tracked idle job, engine vs a plain `Map` of the same records (the job snapshot
 * and its webhook secret, as the store keeps them). Every measurement runs in a fresh child
 * process with `--expose-gc`; heap used after GC, before and after the jobs are loaded. The
 * engine's jobs are restored from a store and wait in the poll scheduler (idle: hourly polls).
 */
export async function jobMemory(options: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  // Issue #14 asks for the cost per idle job at a million jobs (full run only: it takes minutes).
  const sizes = options.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  for (const jobs of sizes) {
    const probe = (variant: 'engine' | 'map') => async (): Promise<Probe> => {
      const child = await BenchChild.start(new URL('./lib/job-table-probe.ts', import.meta.url), { nodeArgs: ['--expose-gc', '--max-old-space-size=8192'] });
      try {
        return await child.call<Probe>('measure', { variant, jobs });
      } finally {
        await child.stop();
      }
    };
    // Heap figures do not depend on CPU contention, so each round's pair runs side by side.
    const a: Probe[] = [];
    const b: Probe[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const [engine, map] = await Promise.all([probe('engine')(), probe('map')()]);
      a.push(engine);
      b.push(map);
      options.log(`B3 ${jobs} jobs round ${round + 1}/${options.rounds}: engine ${fmt(engine.bytesPerJob)} B/job | map ${fmt(map.bytesPerJob)} B/job`);
    }
    const engine = median(a.map((p) => p.bytesPerJob));
    const map = median(b.map((p) => p.bytesPerJob));
    rows.push({
      id: 'B3',
      measure: `heap per idle tracked job, ${jobs.toLocaleString('en-US')} jobs`,
      engine: `${fmt(engine)} B/job`,
      baseline: `${fmt(map)} B/job`,
      ratio: engine / map,
      target: '≤ 1.5x',
      met: engine / map <= 1.5,
      details: { jobs, extraBytesPerJob: engine - map, ratioRange: range(a.map((p, i) => p.bytesPerJob / b[i]!.bytesPerJob)), engine: a, map: b },
    });
  }
  return rows;
}
