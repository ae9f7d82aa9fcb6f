/**
 * The benchmark suite (docs/benchmarks.md). `npm run bench` runs everything; options:
 *   --quick          smaller sizes, shorter runs (still ≥ 5 interleaved rounds), a few minutes
 *   --only B1,B3     a subset
 *   --rounds 7       more interleaved rounds (at least 5)
 *   --out file.json  also write every figure, per round, with the machine description
 *   --profile dir    run each benchmark process under `node --cpu-prof`, profiles into dir
 * Each benchmark runs in a fresh child process. Progress goes to stderr; the table to stdout.
 * Benchmarks are not tests: a missed target is reported, never an exit code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchChild } from './lib/child.js';
import { describeMachine, machineLine } from './lib/machine.js';
import { BENCHMARKS } from './lib/registry.js';
import { formatTable, type Row } from './lib/table.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    out: { type: 'string' },
    profile: { type: 'string' },
  },
});

const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 5) throw new Error('--rounds must be an integer of at least 5');
const ids = values.only === undefined ? Object.keys(BENCHMARKS) : values.only.split(',').map((id) => id.trim().toUpperCase());
const unknown = ids.filter((id) => BENCHMARKS[id] === undefined);
if (unknown.length > 0) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);

const machine = describeMachine();
const mode = values.quick ? 'quick' : 'full';
const nodeArgs = ['--expose-gc'];
if (values.profile !== undefined) {
  const dir = resolve(values.profile);
  mkdirSync(dir, { recursive: true });
  nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
}
console.error(`jobstream benchmarks (${mode}, ${rounds} interleaved rounds): ${machineLine(machine)}`);

const rows: Row[] = [];
const seconds: Record<string, number> = {};
const started = Date.now();
for (const id of ids) {
  const t0 = Date.now();
  console.error(`${id} …`);
  const child = await BenchChild.start(new URL('./lib/bench-child.ts', import.meta.url), { nodeArgs, fds: 12_000 });
  try {
    rows.push(...(await child.call<Row[]>('run', { id, quick: values.quick, rounds }, 3_600_000)));
  } catch (error) {
    console.error(`${id} failed: ${error instanceof Error ? error.message : String(error)}`);
    rows.push({ id, measure: 'did not complete (see stderr)', engine: '—', baseline: '—', ratio: undefined, target: '—', met: false });
  } finally {
    await child.stop();
  }
  seconds[id] = (Date.now() - t0) / 1000;
  console.error(`${id} done in ${seconds[id].toFixed(1)} s`);
}

console.log(`jobstream benchmarks, ${mode} run, ${rounds} interleaved rounds, ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(machineLine(machine));
console.log('');
console.log(formatTable(rows));
if (values.out !== undefined) {
  writeFileSync(values.out, JSON.stringify({ mode, rounds, machine, seconds, startedAt: new Date(started).toISOString(), rows }, null, 2));
}
