import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import { SseChange, SseResumed, SseSnapshot } from '../../src/server/sse-protocol.js';
import { isSettled } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { startSimulatorFleet, type SimulatorFleet } from '../reliability/provider-fleet.js';
import { TestProcess } from '../support/processes.js';
import { SseReader } from './sse-reader.js';

const TOKEN = 'sse-restart-token-0123456789';

let fleet: SimulatorFleet | undefined;
const dirs: string[] = [];
const readers: SseReader[] = [];
afterAll(async () => {
  await Promise.all(readers.map((reader) => reader.close()));
  await TestProcess.killAll();
  await fleet?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function submit(url: string, n: number): Promise<JobSnapshot> {
  const answer = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } }),
  });
  expect(answer.status).toBe(201);
  return ((await answer.json()) as { job: JobSnapshot }).job;
}

async function open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const reader = await SseReader.open(`${url}/v1/events`, { authorization: `Bearer ${TOKEN}`, ...headers });
  readers.push(reader);
  expect(reader.status).toBe(200);
  return reader;
}

describe('Server-Sent Events across a restart of a real `jobstream serve`', () => {
  it('a reader that reconnects with Last-Event-ID after kill -9 and a restart gets exactly the changes it missed: nothing lost, nothing twice', async () => {
    fleet = await startSimulatorFleet({ speed: 10, seed: 16_000, only: ['cambai'] });
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-sse-restart-'));
    dirs.push(dataDir);
    const env: Record<string, string> = {
      JOBSTREAM_TOKEN: TOKEN,
      MUSICAI_API_KEY: '',
      KLANGIO_API_KEY: '',
      SUNOAPI_API_KEY: '',
      [`${PROVIDERS.cambai.envPrefix}_API_KEY`]: fleet.simulators.cambai.apiKey,
      [`${PROVIDERS.cambai.envPrefix}_BASE_URL`]: fleet.baseUrl('cambai'),
    };
    const start = async () => {
      const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir], env);
      return { serve, url: await serve.waitForListening(20_000) };
    };

    const first = await start();
    const before = await open(first.url);
    const snapshot = SseSnapshot.parse(JSON.parse((await before.next('snapshot')).data));
    expect(snapshot.jobs).toEqual([]);
    const jobs: string[] = [];
    for (let n = 0; n < 3; n++) jobs.push((await submit(first.url, n)).id);
    await before.until(() => before.all('change').length >= 4, 'four changes');
    const lastEventId = before.events.at(-1)!.lastEventId;
    await before.close();
    // Missed for certain: jobs submitted while the reader is away.
    for (let n = 3; n < 5; n++) jobs.push((await submit(first.url, n)).id);
    first.serve.child.kill('SIGKILL');
    expect((await first.serve.exited).signal).toBe('SIGKILL');

    const second = await start();
    jobs.push((await submit(second.url, 5)).id);
    const after = await open(second.url, { 'last-event-id': lastEventId });
    const resumed = SseResumed.parse(JSON.parse((await after.next('resumed')).data));
    expect(`${resumed.epoch}:${resumed.seq}`).toBe(lastEventId);
    const latest = new Map<string, JobSnapshot>();
    const seen = () => [...before.all('change'), ...after.all('change')].map((data) => SseChange.parse(data));
    await after.until(
      () => {
        for (const change of seen()) latest.set(change.job.id, change.job);
        return jobs.every((id) => latest.get(id) !== undefined && isSettled(latest.get(id)!));
      },
      'every job settled',
      60_000,
    );
    expect(after.events.some((e) => e.event === 'snapshot')).toBe(false);

    // What the server's log holds for these jobs, after the first snapshot: every one of them was
    // received once, in order, across the kill and the restart.
    const history: { seq: number; job: JobSnapshot }[] = [];
    for (const id of jobs) {
      const answer = (await (await fetch(`${second.url}/v1/jobs/${id}/changes`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { changes: { seq: number; job: JobSnapshot }[] };
      history.push(...answer.changes);
    }
    const expected = history.filter((c) => c.seq > snapshot.seq).sort((a, b) => a.seq - b.seq).map((c) => [c.seq, c.job.id, c.job.version]);
    expect(seen().map((c) => [c.seq, c.job.id, c.job.version])).toEqual(expected);
    expect(after.all('change').length).toBeGreaterThan(0);
    // Each event's id is the change's own place in the log, so the browser resumes from the last one.
    for (const e of after.events.filter((event) => event.event === 'change')) expect(e.lastEventId).toBe(`${resumed.epoch}:${SseChange.parse(JSON.parse(e.data)).seq}`);
    await after.close();
    await second.serve.stop('SIGTERM');
  }, 90_000);
});
