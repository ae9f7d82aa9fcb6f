import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/streams/file-store.js';

const CYCLES = Number(process.env.JOBSTREAM_CRASH_CYCLES ?? 6);
const child = join(import.meta.dirname, '../support/crash-child.ts');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged `killAfter` ingests, then SIGKILLs it. */
function runAndKill(killAfter: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const acked = new Map<string, number>();
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let count = 0;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const [word, id, version] = line.split(' ');
      if (word !== 'ACK' || id === undefined) return;
      acked.set(id, Math.max(acked.get(id) ?? 0, Number(version)));
      if (++count === killAfter) proc.kill('SIGKILL');
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`child exited (${code}) before it was killed: ${stderr}`));
    });
  });
}

describe('kill -9 during a burst of webhook ingests', () => {
  it(`loses no acknowledged change over ${CYCLES} crash cycles`, async () => {
    const everAcked = new Map<string, number>();
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const acked = await runAndKill(50 + Math.floor(Math.random() * 400));
      expect(acked.size).toBeGreaterThan(0);
      for (const [id, version] of acked) everAcked.set(id, Math.max(everAcked.get(id) ?? 0, version));

      // The data directory always loads, and holds every acknowledged version (or a later one).
      const store = await FileStore.open({ dir });
      const stored = new Map((await store.load()).map((s) => [s.job.id, s.job.version]));
      await store.close();
      for (const [id, version] of everAcked) expect(stored.get(id) ?? 0, `job ${id}`).toBeGreaterThanOrEqual(version);
    }
  }, 120_000);
});
