import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KlangioState } from '../../../src/simulators/klangio/klangio-job-state.js';
import { startKlangioSimulator } from '../../../src/simulators/klangio/klangio-simulator.js';
import type { KlangioSimulator, KlangioSimulatorOptions } from '../../../src/simulators/klangio/klangio-simulator.js';
import { SimulatorStateError } from '../../../src/simulators/kit/state-file.js';
import { startWebhookReceiver } from '../kit/webhook-receiver.js';
import type { WebhookReceiver } from '../kit/webhook-receiver.js';
import { klangioClient } from './klangio-test-client.js';

let dir: string;
let stateFile: string;
let receiver: WebhookReceiver;
const sims: KlangioSimulator[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'klangio-state-'));
  stateFile = join(dir, 'klangio.json');
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

/** A clock the test moves by hand; every status is read from it. */
let clockMs = Date.parse('2025-03-01T12:00:00.000Z');
const now = (): number => clockMs;

async function start(options: KlangioSimulatorOptions = {}): Promise<KlangioSimulator> {
  // Speed 0.01: a job takes minutes of clock time, so no webhook timer of the first run fires
  // in real time before it is closed.
  const sim = await startKlangioSimulator({ speed: 0.01, seed: 7, now, stateFile, ...options });
  sims.push(sim);
  return sim;
}

const FORMATS: Record<string, string[]> = { transcription: ['xml', 'midi', 'pdf'], 'chord-recognition': ['json'], 'beat-tracking': ['json'] };

/** Everything a client can learn about a job: its status answer and every result. */
async function answers(sim: KlangioSimulator, jobId: string, kind: string) {
  const client = klangioClient(sim);
  const results: Record<string, { status: number; bytes: string }> = {};
  for (const format of FORMATS[kind] ?? []) {
    const res = await client.result(jobId, format);
    results[format] = { status: res.status, bytes: res.bytes.toString('base64') };
  }
  return { status: (await client.status(jobId)).body, outcome: sim.outcome(jobId), results };
}

describe('Klangio simulator: state file', () => {
  it('keeps its jobs across a restart: finished while down, still running, and unchanged answers', async () => {
    const first = await start();
    const client = klangioClient(first);
    const hook = { webhook_url: `${receiver.url}/hook` };
    const jobs: { id: string; kind: string }[] = [];
    const create = async (kind: string, query: Record<string, string>, outputs: string[] = []) => {
      const res = await client.create(`/${kind}`, { ...query, ...hook }, outputs);
      expect(res.status).toBe(200);
      jobs.push({ id: String(res.body['job_id']), kind });
    };
    await create('transcription', { model: 'piano', title: 'Before the restart', composer: 'Test' }, ['mxml', 'midi', 'pdf']);
    clockMs += 1000;
    await create('chord-recognition', { vocabulary: 'full' });
    first.setFaults({ jobFailureRate: 1 });
    await create('beat-tracking', {});
    first.setFaults({ jobFailureRate: 0 });
    const closedAt = clockMs;

    // What the first run answers once every job has ended (its clock is moved ahead and back).
    clockMs = closedAt + 3_600_000;
    const expected = await Promise.all(jobs.map((job) => answers(first, job.id, job.kind)));
    expect(expected.map((e) => e.status['status'])).toEqual(['COMPLETED', 'COMPLETED', 'FAILED']);
    clockMs = closedAt;
    expect(jobs.map((job) => first.status(job.id))).toEqual(['IN_QUEUE', 'IN_QUEUE', 'IN_QUEUE']);
    await first.close();

    const saved = KlangioState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.jobs.map((job) => job.id)).toEqual(jobs.map((job) => job.id));
    const ends = saved.jobs.map((job) => job.timeline.at(-1)!.atMs);
    const last = Math.max(...ends);
    // Restart 30 ms of clock time before the last job ends: the others ended while it was down.
    clockMs = last - 30;
    const second = await start();
    const running = jobs[ends.indexOf(last)]!;
    for (const [i, job] of jobs.entries()) {
      if (job === running) expect(second.status(job.id)).toBe('IN_PROGRESS');
      else expect(await answers(second, job.id, job.kind)).toEqual(expected[i]);
    }

    // Only the running job's terminal change is sent, once its time comes on the clock (the
    // simulator never announces a status its status endpoint does not show yet).
    clockMs = last;
    await receiver.waitFor((r) => r.length >= 1);
    await second.webhooks.idle();
    expect(receiver.received.map((r) => r.body)).toEqual([{ job_id: running.id, status: 'COMPLETED' }]);

    clockMs = closedAt + 3_600_000;
    expect(await Promise.all(jobs.map((job) => answers(second, job.id, job.kind)))).toEqual(expected);
    const fresh = await klangioClient(second).create('/beat-tracking', {});
    expect(jobs.map((job) => job.id)).not.toContain(fresh.body['job_id']);
  });

  it('writes the jobs created after a restart too', async () => {
    const first = await start();
    const a = await klangioClient(first).create('/beat-tracking', {});
    await first.close();
    const second = await start({ seed: 8 });
    const b = await klangioClient(second).create('/strum-recognition', {});
    await second.close();
    const saved = KlangioState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.jobs.map((job) => [job.id, job.kind])).toEqual([
      [a.body['job_id'], 'beat-tracking'],
      [b.body['job_id'], 'strum-recognition'],
    ]);
  });

  it('serves the flagged outputs of a drifted transcription after a restart, not the ones asked for', async () => {
    const first = await start({ outputFlagDriftRate: 1 });
    const created = await klangioClient(first).create('/transcription', { model: 'guitar' }, ['midi', 'pdf', 'gp5']);
    expect(created.body).toMatchObject({ gen_xml: true, gen_gp5: false });
    const jobId = String(created.body['job_id']);
    await first.close();
    const saved = KlangioState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.jobs[0]?.outputs).toEqual(['midi', 'pdf', 'mxml']);
    // Restarted without drift: the job keeps what it was created with.
    const second = await start({ outputFlagDriftRate: 0 });
    clockMs += 3_600_000;
    const client = klangioClient(second);
    expect((await client.status(jobId)).body['status']).toBe('COMPLETED');
    expect((await client.result(jobId, 'xml')).status).toBe(200);
    expect((await client.result(jobId, 'gp5')).status).toBe(404);
  });

  it('refuses a damaged state file, naming it', async () => {
    await writeFile(stateFile, '{"format":1,"provider":"klangio","jobs":[{"id":');
    const broken = start();
    await expect(broken).rejects.toThrow(SimulatorStateError);
    await expect(broken).rejects.toThrow(stateFile);
    await writeFile(stateFile, JSON.stringify({ format: 1, provider: 'sunoapi', jobs: [] }));
    await expect(start()).rejects.toThrow(/klangio\.json: not a valid state: provider/);
  });
});
