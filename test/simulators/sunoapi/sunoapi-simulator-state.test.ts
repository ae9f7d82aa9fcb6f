import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatorStateError } from '../../../src/simulators/kit/state-file.js';
import { startSunoapiSimulator } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import type { SunoapiSimulator, SunoapiSimulatorOptions } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import { SunoapiState } from '../../../src/simulators/sunoapi/sunoapi-task-state.js';
import { startWebhookReceiver } from '../kit/webhook-receiver.js';
import type { WebhookReceiver } from '../kit/webhook-receiver.js';
import { sunoClient } from './sunoapi-test-client.js';

let dir: string;
let stateFile: string;
let receiver: WebhookReceiver;
const sims: SunoapiSimulator[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sunoapi-state-'));
  stateFile = join(dir, 'sunoapi.json');
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

/** A clock the test moves by hand; every record is read from it. */
let clockMs = Date.parse('2025-03-01T12:00:00.000Z');
const now = (): number => clockMs;

async function start(options: SunoapiSimulatorOptions = {}): Promise<SunoapiSimulator> {
  // Speed 0.01: a task takes minutes of clock time, so no callback timer of the first run fires
  // in real time before it is closed.
  const sim = await startSunoapiSimulator({ speed: 0.01, seed: 11, now, stateFile, credits: 10, ...options });
  sims.push(sim);
  return sim;
}

interface Task {
  id: string;
  kind: 'separation' | 'midi';
}

/** Everything a client can learn about a task, with the simulator's own URL replaced by `<sim>`. */
async function answers(sim: SunoapiSimulator, task: Task) {
  const client = sunoClient(sim);
  const record = task.kind === 'separation' ? await client.separationRecord(task.id) : await client.midiRecord(task.id);
  const stem = await fetch(`${sim.url}/files/${task.id}/vocal.wav`);
  const bytes = Buffer.from(await stem.arrayBuffer()).toString('base64');
  const text = JSON.stringify({ record: record.body, stem: { status: stem.status, bytes }, status: sim.status(task.id), outcome: sim.outcome(task.id) });
  return JSON.parse(text.replaceAll(sim.url, '<sim>')) as unknown;
}

describe('sunoapi simulator: state file', () => {
  it('keeps tasks and credits across a restart: ended while down, still pending, and unchanged answers', async () => {
    const first = await start();
    const client = sunoClient(first);
    const callBackUrl = `${receiver.url}/cb`;
    const separate = async (type: string): Promise<Task> => {
      const res = await client.post('/api/v1/vocal-removal/generate', { taskId: 'suno-1', audioId: 'audio-1', type, callBackUrl });
      expect(res.body.code).toBe(200);
      return { id: String(res.body.data.taskId), kind: 'separation' };
    };
    const done = await separate('split_stem');
    clockMs += 3_600_000;
    const midi = await client.post('/api/v1/midi/generate', { taskId: done.id, callBackUrl });
    expect(midi.body.code).toBe(200);
    const tasks: Task[] = [done, { id: String(midi.body.data.taskId), kind: 'midi' }, await separate('separate_vocal')];
    const closedAt = clockMs;

    // What the first run answers once every task has ended (its clock is moved ahead and back).
    clockMs = closedAt + 3_600_000;
    const expected = await Promise.all(tasks.map((task) => answers(first, task)));
    expect(tasks.map((task) => first.status(task.id))).toEqual(['SUCCESS', 1, 'SUCCESS']);
    clockMs = closedAt;
    expect(tasks.map((task) => first.status(task.id))).toEqual(['SUCCESS', 0, 'PENDING']);
    await first.close();

    const saved = SunoapiState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.credits).toBe(7);
    const ends = saved.tasks.map((task) => task.timeline.at(-1)!.atMs);
    const last = Math.max(...ends);
    // Restart 30 ms of clock time before the last task ends: the other pending one ended while it was down.
    clockMs = last - 30;
    const second = await start();
    const pending = tasks[ends.indexOf(last)]!;
    expect(pending).not.toBe(done);
    for (const [i, task] of tasks.entries()) {
      if (task === pending) expect(second.status(task.id)).toBe(task.kind === 'midi' ? 0 : 'PENDING');
      else expect(await answers(second, task)).toEqual(expected[i]);
    }
    expect(second.credits()).toBe(7);
    expect((await sunoClient(second).get('/api/v1/generate/credit')).body.data).toBe(7);

    // Only the pending task calls back, once its time comes.
    await receiver.waitFor((r) => r.length >= 1);
    await second.webhooks.idle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.body).toMatchObject({ code: 200, ...(pending.kind === 'midi' ? { task_id: pending.id } : { data: { task_id: pending.id } }) });

    clockMs = closedAt + 3_600_000;
    expect(await Promise.all(tasks.map((task) => answers(second, task)))).toEqual(expected);
    const fresh = await sunoClient(second).post('/api/v1/vocal-removal/generate', { taskId: 's', audioId: 'a', callBackUrl });
    expect(tasks.map((task) => task.id)).not.toContain(fresh.body.data.taskId);
  });

  it('keeps CALLBACK_EXCEPTION for a task whose every callback failed', async () => {
    receiver.respond = () => 500;
    // The documented retries (1, 5, 15 minutes) at speed 6000: 10, 50 and 150 ms.
    const first = await startSunoapiSimulator({ speed: 6000, seed: 3, stateFile });
    sims.push(first);
    const created = await sunoClient(first).post('/api/v1/vocal-removal/generate', { taskId: 't', audioId: 'a', callBackUrl: receiver.url });
    const id = String(created.body.data.taskId);
    await receiver.waitFor((r) => r.length === 4);
    await first.webhooks.idle();
    expect(first.status(id)).toBe('CALLBACK_EXCEPTION');
    await first.close();
    const second = await startSunoapiSimulator({ stateFile });
    sims.push(second);
    expect(second.status(id)).toBe('CALLBACK_EXCEPTION');
    expect(second.credits()).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses a damaged state file, naming it', async () => {
    await writeFile(stateFile, '');
    await expect(start()).rejects.toThrow(SimulatorStateError);
    await expect(start()).rejects.toThrow(`${stateFile}: the file is empty`);
    const orphan = { kind: 'midi', id: 'ab', callBackUrl: 'http://127.0.0.1:1/', createdAt: 0, outcome: 'succeeded', timeline: [{ status: 'PENDING', atMs: 0 }], separationId: 'cd', instruments: [], callbackSeed: 1 };
    await writeFile(stateFile, JSON.stringify({ format: 1, provider: 'sunoapi', tasks: [orphan] }));
    await expect(start()).rejects.toThrow(/sunoapi\.json: not a valid state: tasks\[0\]\.separationId: names no earlier separation task/);
  });
});
