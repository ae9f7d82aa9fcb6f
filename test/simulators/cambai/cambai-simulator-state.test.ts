import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import { CambaiState } from '../../../src/simulators/cambai/cambai-task-state.js';
import { SimulatorStateError } from '../../../src/simulators/kit/state-file.js';
import { call, closeSimsAfterEach, createTask, manualClock, startSim } from './cambai-test-helpers.js';

closeSimsAfterEach();

let dir: string;
let stateFile: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cambai-state-'));
  stateFile = join(dir, 'cambai.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const clock = manualClock();

/**
 * Everything a client can learn about a task, with the simulator's own URL replaced by `<sim>`
 * and the file URL's expiry relative to the clock.
 */
async function answers(sim: RunningCambaiSimulator, taskId: string) {
  const status = await call<{ run_id: number | null }>(sim, 'GET', `/transcribe/${taskId}`);
  const runId = status.body.run_id;
  const found: Record<string, unknown> = { status: status.body, outcome: sim.outcome(taskId) };
  if (runId !== null) {
    found['result'] = await call(sim, 'GET', `/transcription-result/${runId}?word_level_timestamps=true`).then((a) => a.body);
    const file = await call<{ file_url: string; expiry: string }>(sim, 'GET', `/transcription-result/${runId}?data_type=file&format_type=srt`);
    const { file_url: url, expiry } = file.body;
    found['file'] = { url, expiresInMs: Date.parse(expiry) - clock.now(), text: await (await fetch(url)).text() };
    found['batch'] = await call(sim, 'POST', '/transcription-results', { json: { run_ids: [runId] } }).then((a) => a.body);
  }
  return JSON.parse(JSON.stringify(found).replaceAll(sim.url, '<sim>')) as unknown;
}

describe('Camb.ai simulator: state file', () => {
  it('keeps its tasks across a restart: ended while down, still pending, and unchanged answers', async () => {
    const start = () => startSim({ speed: 1, seed: 21, now: clock.now, stateFile });
    const first = await start();
    const tasks = [
      await createTask(first, { media_url: 'https://example.com/interview.mp3' }),
      await createTask(first, { media_file: new File([new Uint8Array([1, 2, 3])], 'talk.wav') }),
    ];
    first.setFaults({ jobFailureRate: 1 });
    tasks.push(await createTask(first, { media_url: 'https://example.com/podcast.mp3' }));
    first.setFaults({ jobFailureRate: 0 });

    // What the first run answers once every task has ended (its clock is moved ahead and back).
    clock.advance(3_600_000);
    const expected = await Promise.all(tasks.map((id) => answers(first, id)));
    expect(expected.map((e) => (e as { status: { status: string } }).status.status)).toEqual(['SUCCESS', 'SUCCESS', 'ERROR']);
    clock.advance(-3_600_000);
    await first.close();

    const saved = CambaiState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.tasks.map((task) => task.taskId)).toEqual(tasks);
    const ends = saved.tasks.map((task) => task.timeline.at(-1)!.atMs);
    const last = Math.max(...ends);
    // Restart just before the last task ends: the others ended while the simulator was down.
    clock.advance(Math.floor(last) - 1 - clock.now());
    const second = await start();
    for (const [i, id] of tasks.entries()) {
      if (ends[i] === last) expect((await call(second, 'GET', `/transcribe/${id}`)).body).toMatchObject({ status: 'PENDING' });
      else expect(await answers(second, id)).toEqual(expected[i]);
    }

    clock.advance(3_600_000);
    expect(await Promise.all(tasks.map((id) => answers(second, id)))).toEqual(expected);
    // The run ids continue: a new task never reuses one the same seed handed out before.
    const fresh = await createTask(second, { media_url: 'https://example.com/new.mp3' });
    clock.advance(3_600_000);
    const freshRun = (await call<{ run_id: number }>(second, 'GET', `/transcribe/${fresh}`)).body.run_id;
    expect(saved.tasks.map((task) => task.runId)).not.toContain(freshRun);
  });

  it('refuses a damaged state file, naming it', async () => {
    await writeFile(stateFile, 'not json');
    await expect(startSim({ stateFile })).rejects.toThrow(SimulatorStateError);
    await expect(startSim({ stateFile })).rejects.toThrow(`${stateFile}: not valid JSON`);
    await writeFile(stateFile, JSON.stringify({ format: 1, provider: 'cambai', nextRunId: 5, tasks: [{ taskId: 't' }] }));
    await expect(startSim({ stateFile })).rejects.toThrow(/cambai\.json: not a valid state: tasks\[0\]\.runId/);
  });
});
