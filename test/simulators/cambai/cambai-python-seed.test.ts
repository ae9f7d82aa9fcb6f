import { execFile, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import { CambaiTaskStatusResponse } from '../../../src/simulators/cambai/cambai-schemas.js';
import { closeSimsAfterEach, createTask, startSim } from './cambai-test-helpers.js';

closeSimsAfterEach();

const script = fileURLToPath(new URL('./fixtures/poll_transcription_status.py', import.meta.url));

/** The seed's example needs `python3` with the `requests` package. */
const pythonReady = spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;
const SKIP_REASON =
  "skipped: `python3 -c 'import requests'` failed on this machine, so the seed 003 Python client cannot run";

/** Runs the fixture asynchronously (the simulator shares this process, so no spawnSync). */
async function runSeedClient(sim: RunningCambaiSimulator, taskId: string, apiKey = sim.apiKey) {
  const env = {
    ...process.env,
    CAMB_BASE_URL: sim.baseUrl,
    CAMB_API_KEY: apiKey,
    CAMB_TASK_ID: taskId,
    CAMB_POLL_SECONDS: '0.01',
    CAMB_MAX_POLLS: '500',
  };
  const { stdout, exitCode } = await promisify(execFile)('python3', [script], { env, timeout: 15_000 }).then(
    (r) => ({ stdout: r.stdout, exitCode: 0 }),
    (e: { stdout?: string; code?: number }) => ({ stdout: e.stdout ?? '', exitCode: e.code ?? -1 }),
  );
  const lines = stdout.trimEnd().split('\n');
  const result: unknown = JSON.parse((lines.at(-1) ?? '').replace(/^RESULT /, ''));
  return { lines, result, exitCode };
}

describe('Camb.ai simulator with the seed 003 Python polling example', () => {
  beforeEach(({ skip }) => skip(!pythonReady, SKIP_REASON));

  it('polls a task to SUCCESS and returns its run_id', async () => {
    // A hand-driven clock: the task stays PENDING until the client has seen it pending, however
    // slowly python3 starts on a busy machine.
    let now = Date.now();
    const sim = await startSim({ speed: 1, now: () => now });
    const taskId = await createTask(sim, { media_url: 'https://example.com/meeting.mp3' });
    const child = spawn('python3', [script], {
      env: { ...process.env, CAMB_BASE_URL: sim.baseUrl, CAMB_API_KEY: sim.apiKey, CAMB_TASK_ID: taskId, CAMB_POLL_SECONDS: '0.01', CAMB_MAX_POLLS: '100000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === 'Status: PENDING') now += 3_600_000;
    });
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const result: unknown = JSON.parse((lines.at(-1) ?? '').replace(/^RESULT /, ''));
    expect(exitCode).toBe(0);
    const final = CambaiTaskStatusResponse.parse(result);
    expect(final.status).toBe('SUCCESS');
    expect(Number.isInteger(final.run_id)).toBe(true);
    expect(lines).toContain('Status: PENDING');
    expect(lines).toContain('Transcription completed successfully!');
  });

  it('stops on ERROR and prints the message', async () => {
    const sim = await startSim();
    const taskId = await createTask(sim, { media_url: 'https://example.com/slides.pdf' });
    const { lines, result } = await runSeedClient(sim, taskId);
    expect(CambaiTaskStatusResponse.parse(result)).toMatchObject({ status: 'ERROR', exception_reason: 'SOURCE_TYPE_NOT_SUPPORTED' });
    expect(lines.some((l) => l.startsWith('Transcription failed: Media type ".pdf"'))).toBe(true);
  });

  it('reports the 401 answer of a wrong key through raise_for_status', async () => {
    const sim = await startSim();
    const taskId = await createTask(sim, { media_url: 'https://example.com/a.mp3' });
    const { lines, result, exitCode } = await runSeedClient(sim, taskId, 'wrong-key');
    expect(result).toBeNull();
    expect(exitCode).toBe(1);
    expect(lines.some((l) => l.startsWith('Error checking transcription status: 401'))).toBe(true);
    expect(lines).toContain('Response content: {"detail":"Invalid API key"}');
  });
});
