import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const child = join(import.meta.dirname, '../support/retention-crash-child.ts');
const JOBS = 40;
const DAY_MS = 86_400_000;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A data directory holding `JOBS` jobs that failed ten days ago. */
async function expiredJobs(): Promise<{ dir: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'jobstream-retention-crash-'));
  dirs.push(dir);
  const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
  const engine = await createEngine({ providers: [provider], dataDir: dir, scheduler: new VirtualClock(Date.now() - 10 * DAY_MS), webhookUrl: hookUrl });
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    ids.push((await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } })).id);
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[i]?.webhookUrl), body: { id: `ext-${i + 1}`, status: 'BROKEN' } });
  }
  await engine.close();
  return { dir, ids };
}

/** Runs the child on `dir` until it prints a line starting with `killAt`, then SIGKILLs it. */
function runAndKill(dir: string, killAt: string, mode: 'full' | 'torn'): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let seen: string | undefined;
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (seen === undefined && line.startsWith(killAt)) {
        seen = line;
        proc.kill('SIGKILL');
      }
    });
    proc.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL' && seen !== undefined) resolve(seen);
      else reject(new Error(`child exited before it was killed: ${stderr}`));
    });
  });
}

async function storedIds(dir: string): Promise<string[]> {
  const store = await FileStore.open({ dir });
  try {
    return (await store.load()).map((stored) => stored.job.id).sort();
  } finally {
    await store.close();
  }
}

describe('kill -9 around a retention removal (embedded store)', () => {
  it('after the removal record: every removed job stays gone', async () => {
    const { dir } = await expiredJobs();
    expect(await runAndKill(dir, 'REMOVED', 'full')).toBe(`REMOVED ${JOBS}`);
    expect(await storedIds(dir)).toEqual([]);
  }, 60_000);

  it('in the middle of writing it: every job is still there (never half removed), and the next sweep removes them all', async () => {
    const { dir, ids } = await expiredJobs();
    expect(await runAndKill(dir, 'TORN', 'torn')).toBe('TORN');
    expect(await storedIds(dir)).toEqual([...ids].sort());
    const engine = await createEngine({ providers: [new FakeProvider()], store: await FileStore.open({ dir }), resultsDir: false, retainMs: 7 * DAY_MS });
    try {
      await expect.poll(() => engine.retention.removedTotal).toBe(JOBS);
      expect(engine.snapshot().jobs).toEqual([]);
    } finally {
      await engine.close();
    }
    expect(await storedIds(dir)).toEqual([]);
  }, 60_000);
});
