/**
 * Child process: runs one benchmark in a fresh process (so one benchmark's heap, timers and
 * sockets never disturb the next) and answers with its rows. Started by bench/run.ts.
 */
import { serveParent } from './child-side.js';
import { BENCHMARKS } from './registry.js';

serveParent({
  async run(args: { id: string; quick: boolean; rounds: number }) {
    const load = BENCHMARKS[args.id];
    if (load === undefined) throw new Error(`no benchmark ${args.id}`);
    const benchmark = await load();
    return benchmark({ quick: args.quick, rounds: args.rounds, log: (line) => console.error(`  ${line}`) });
  },
});
