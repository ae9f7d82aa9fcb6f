import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import { isSettled } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { TestProcess } from '../support/processes.js';
import { ResumingSubscriber } from './resuming-subscriber.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';

const TOKEN = 'reliability-restart-token-0123';

let fleet: SimulatorFleet | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await TestProcess.killAll();
  await fleet?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function submit(url: string, n: number): Promise<JobSnapshot> {
  const answer = await request(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } }),
  });
  const body = (await answer.body.json()) as { job: JobSnapshot };
  expect(answer.statusCode).toBe(201);
  return body.job;
}

describe('a client resumes across a restart of a real server with exactly what it missed (issue #12)', () => {
  for (const stop of ['SIGTERM', 'SIGKILL'] as const) {
    it(`after ${stop === 'SIGTERM' ? 'a clean stop' : 'kill -9'}: no snapshot, the same changes as a client that stayed until the end`, async () => {
      fleet ??= await startSimulatorFleet({ speed: 10, seed: 12_000, only: ['cambai'] });
      const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-restart-resume-'));
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
      const leaver = new ResumingSubscriber('leaver', TOKEN);
      const stayer = new ResumingSubscriber('stayer', TOKEN);
      await leaver.connect(first.url);
      await stayer.connect(first.url);
      const jobs: string[] = [];
      for (let n = 0; n < 6; n++) jobs.push((await submit(first.url, n)).id);
      // One client leaves part-way; the other stays until the server goes away.
      await leaver.until(() => leaver.seen.length >= 4, 'four changes');
      await leaver.leave();
      const left = leaver.seq;
      await stayer.until(() => stayer.seq >= left + 3, 'three changes after the first client left');
      if (stop === 'SIGTERM') expect(await first.serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      else {
        first.serve.child.kill('SIGKILL');
        expect((await first.serve.exited).signal).toBe('SIGKILL');
      }
      await stayer.until(() => true, 'nothing');

      const second = await start();
      for (let n = 6; n < 9; n++) jobs.push((await submit(second.url, n)).id);
      await leaver.connect(second.url);
      await stayer.connect(second.url);
      // Neither got a snapshot on resuming: the restarted server still had every change each missed.
      expect(leaver.answers).toEqual(['snapshot:subscribe', 'resumed']);
      expect(stayer.answers).toEqual(['snapshot:subscribe', 'resumed']);
      const settled = (s: ResumingSubscriber) => jobs.every((id) => s.job(id) !== undefined && isSettled(s.job(id)!));
      await leaver.until(() => settled(leaver), 'every job settled (the client that left)', 60_000);
      await stayer.until(() => settled(stayer) && stayer.seq === leaver.seq, 'every job settled (the client that stayed)', 60_000);

      expect(leaver.problems).toEqual([]);
      expect(stayer.problems).toEqual([]);
      expect(leaver.seen.length).toBeGreaterThan(0);
      // Exactly the same changes, in the same order, whether the client left before the
      // restart, stayed until the server went away, or (both) came back after it.
      // (Which server sent a change differs between the two: the one that left got some of them
      // from the restarted server.)
      const log = (s: ResumingSubscriber) => s.seen.map(({ seq, id, version, status, previousStatus }) => [seq, id, version, status, previousStatus]);
      expect(log(leaver)).toEqual(log(stayer));
      const seqs = stayer.seen.map(({ seq }) => seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      await leaver.leave();
      await stayer.leave();
      await second.serve.stop('SIGTERM');
    }, 120_000);
  }
});
