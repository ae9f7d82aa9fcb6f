import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import type { MusicaiSimulatorOptions, RunningMusicaiSimulator } from '../../../src/simulators/musicai/musicai-simulator.js';
import { startMusicaiSimulator } from '../../../src/simulators/musicai/musicai-simulator.js';
import type { MusicaiJob } from '../../../src/simulators/musicai/musicai-schemas.js';

const running: RunningMusicaiSimulator[] = [];

/** Registers an `afterEach` that closes every simulator started through {@link startSim}. */
export function closeSimsAfterEach(): void {
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sim) => sim.close()));
  });
}

/** Starts a simulator that is closed after the current test. */
export async function startSim(options: MusicaiSimulatorOptions = {}): Promise<RunningMusicaiSimulator> {
  const sim = await startMusicaiSimulator({ speed: 500, ...options });
  running.push(sim);
  return sim;
}

/** A parsed HTTP answer. */
export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the simulator's API with its key (or `key` when given; `null` sends no key). */
export async function call<T = unknown>(
  sim: RunningMusicaiSimulator,
  method: string,
  path: string,
  opts: { body?: unknown; key?: string | null } = {},
): Promise<Answer<T>> {
  const key = opts.key === undefined ? sim.apiKey : opts.key;
  const headers: Record<string, string> = key === null ? {} : { authorization: key };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${sim.apiEndpoint}${path}`, {
    method,
    headers,
    ...(opts.body === undefined ? {} : { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text === '' ? null : JSON.parse(text)) as T };
}

/** Opens an upload slot and PUTs `bytes` to it; returns the download URL. */
export async function upload(sim: RunningMusicaiSimulator, bytes: Buffer = Buffer.from('ID3 fake mp3 bytes')): Promise<string> {
  const slot = await call<{ uploadUrl: string; downloadUrl: string }>(sim, 'GET', '/upload');
  const put = await fetch(slot.body.uploadUrl, { method: 'PUT', body: new Uint8Array(bytes) });
  if (put.status !== 200) throw new Error(`upload failed: ${put.status}`);
  return slot.body.downloadUrl;
}

/** Creates a job and returns its id; throws unless the simulator answered 200. */
export async function createJob(
  sim: RunningMusicaiSimulator,
  body: Record<string, unknown> & { params: Record<string, unknown> },
): Promise<string> {
  const created = await call<{ id: string }>(sim, 'POST', '/job', { body: { name: 'test job', workflow: 'stems-four', ...body } });
  if (created.status !== 200) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id;
}

/**
 * Polls `GET /job/{id}` until the job is terminal (bounded: 400 attempts, 5 ms apart) and
 * returns every status seen, in order, plus the final job.
 */
export async function waitForTerminal(sim: RunningMusicaiSimulator, id: string): Promise<{ seen: string[]; job: MusicaiJob }> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 400; attempt++) {
    const { body: job } = await call<MusicaiJob>(sim, 'GET', `/job/${id}`);
    if (seen.at(-1) !== job.status) seen.push(job.status);
    if (job.status === 'SUCCEEDED' || job.status === 'FAILED') return { seen, job };
    await sleep(5);
  }
  throw new Error(`job ${id} did not finish; statuses seen: ${seen.join(' → ')}`);
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
