import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import type { CambaiSimulatorOptions, RunningCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import { startCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import type { CambaiTaskStatusResponse } from '../../../src/simulators/cambai/cambai-schemas.js';

const running: RunningCambaiSimulator[] = [];

/** Registers an `afterEach` that closes every simulator started through {@link startSim}. */
export function closeSimsAfterEach(): void {
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sim) => sim.close()));
  });
}

/** Starts a simulator that is closed after the current test. */
export async function startSim(options: CambaiSimulatorOptions = {}): Promise<RunningCambaiSimulator> {
  const sim = await startCambaiSimulator({ speed: 500, ...options });
  running.push(sim);
  return sim;
}

/** A parsed HTTP answer. */
export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the simulator under `/apis` with its key (`key: null` sends none). */
export async function call<T = unknown>(
  sim: RunningCambaiSimulator,
  method: string,
  path: string,
  opts: { json?: unknown; form?: FormData; key?: string | null } = {},
): Promise<Answer<T>> {
  const key = opts.key === undefined ? sim.apiKey : opts.key;
  const headers: Record<string, string> = key === null ? {} : { 'x-api-key': key };
  let body: string | FormData | undefined;
  if (opts.form !== undefined) body = opts.form;
  else if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof opts.json === 'string' ? opts.json : JSON.stringify(opts.json);
  }
  const res = await fetch(`${sim.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
}

/** A multipart form from plain fields; `File` values become file parts. */
export function form(fields: Record<string, string | File>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  return data;
}

/** Creates a transcription task; throws unless the simulator answered 200. */
export async function createTask(sim: RunningCambaiSimulator, fields: Record<string, string | File>): Promise<string> {
  const created = await call<{ task_id: string }>(sim, 'POST', '/transcribe', { form: form({ language: '1', ...fields }) });
  if (created.status !== 200) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.task_id;
}

/** Polls the task status until it is not PENDING (bounded: 400 attempts, 5 ms apart). */
export async function waitForTerminal(sim: RunningCambaiSimulator, taskId: string): Promise<{ seen: string[]; final: CambaiTaskStatusResponse }> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 400; attempt++) {
    const { body } = await call<CambaiTaskStatusResponse>(sim, 'GET', `/transcribe/${taskId}`);
    if (seen.at(-1) !== body.status) seen.push(body.status);
    if (body.status !== 'PENDING') return { seen, final: body };
    await sleep(5);
  }
  throw new Error(`task ${taskId} did not finish; statuses seen: ${seen.join(' → ')}`);
}

/** Creates a task from a URL and waits for its run id; throws unless it succeeded. */
export async function succeededRun(sim: RunningCambaiSimulator, fields: Record<string, string | File> = {}): Promise<number> {
  const taskId = await createTask(sim, { media_url: 'https://example.com/interview.mp3', ...fields });
  const { final } = await waitForTerminal(sim, taskId);
  if (final.status !== 'SUCCESS' || typeof final.run_id !== 'number') throw new Error(`task failed: ${JSON.stringify(final)}`);
  return final.run_id;
}

/** A manual clock for deterministic timelines. */
export function manualClock(start = Date.parse('2025-01-01T00:00:00.000Z')): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}
