import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningMusicaiSimulator } from '../../../src/simulators/musicai/musicai-simulator.js';
import type { MusicaiJob } from '../../../src/simulators/musicai/musicai-schemas.js';
import { MusicaiState } from '../../../src/simulators/musicai/musicai-state.js';
import { SimulatorStateError } from '../../../src/simulators/kit/state-file.js';
import { call, closeSimsAfterEach, createJob, manualClock, startSim, upload } from './musicai-test-helpers.js';

closeSimsAfterEach();

let dir: string;
let stateFile: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musicai-state-'));
  stateFile = join(dir, 'musicai.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Replaces simulator URLs by `<sim>`, since each run listens on a new port. */
const portable = (value: unknown): unknown => JSON.parse(JSON.stringify(value).replace(/http:\/\/127\.0\.0\.1:\d+/g, '<sim>'));

/** Everything a client can learn about a job: the job object, its status and every result file. */
async function answers(sim: RunningMusicaiSimulator, id: string) {
  const job = await call<MusicaiJob>(sim, 'GET', `/job/${id}`);
  const status = await call(sim, 'GET', `/job/${id}/status`);
  const files: Record<string, string> = {};
  for (const [name, value] of Object.entries(job.body.result ?? {})) {
    if (typeof value !== 'string' || !value.startsWith('http')) continue;
    files[name] = Buffer.from(await (await fetch(value)).arrayBuffer()).toString('base64');
  }
  return portable({ job: job.body, status: status.body, files, outcome: sim.outcome(id) });
}

describe('Music.AI simulator: state file', () => {
  it('keeps jobs, uploads and the application across a restart, with unchanged answers', async () => {
    const clock = manualClock();
    const start = () => startSim({ speed: 1, seed: 12, now: clock.now, stateFile });
    const first = await start();
    const song = Buffer.from('ID3 the uploaded song');
    const used = await upload(first, song);
    const unused = await upload(first, Buffer.from('ID3 uploaded, not used yet'));
    const jobs = [
      await createJob(first, { workflow: 'stems-four', params: { inputUrl: used }, metadata: { take: 3 }, batchName: 'b1' }),
      await createJob(first, { workflow: 'untitled-workflow-e78c2e', name: 'beats', params: { inputUrl: 'https://example.com/a.mp3' } }),
    ];
    first.setFaults({ jobFailureRate: 1 });
    jobs.push(await createJob(first, { params: { inputUrl: 'https://example.com/b.mp3' } }));
    first.setFaults({ jobFailureRate: 0 });
    const deleted = await createJob(first, { params: { inputUrl: 'https://example.com/c.mp3' } });
    expect((await call(first, 'DELETE', `/job/${deleted}`)).status).toBe(200);

    // What the first run answers once every job has ended (its clock is moved ahead and back).
    clock.advance(3_600_000);
    const expected = await Promise.all(jobs.map((id) => answers(first, id)));
    expect(expected.map((e) => (e as { job: MusicaiJob }).job.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED']);
    const list = portable((await call(first, 'GET', '/job')).body);
    const application = (await call(first, 'GET', '/application')).body;
    clock.advance(-3_600_000);
    await first.close();

    const saved = MusicaiState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.jobs.map((job) => [job.id, job.deleted])).toEqual([...jobs.map((id) => [id, false]), [deleted, true]]);
    expect(await readdir(`${stateFile}.uploads`)).toHaveLength(2);
    const ends = saved.jobs.slice(0, 3).map((job) => job.timeline.at(-1)!.atMs);
    const last = Math.max(...ends);
    // Restart just before the last job ends: the others ended while the simulator was down.
    clock.advance(Math.floor(last) - 1 - clock.now());
    const second = await start();
    for (const [i, id] of jobs.entries()) {
      if (ends[i] === last) expect((await call(second, 'GET', `/job/${id}/status`)).body).toMatchObject({ status: 'STARTED' });
      else expect(await answers(second, id)).toEqual(expected[i]);
    }

    clock.advance(3_600_000);
    expect(await Promise.all(jobs.map((id) => answers(second, id)))).toEqual(expected);
    expect(portable((await call(second, 'GET', '/job')).body)).toEqual(list);
    expect((await call(second, 'GET', '/application')).body).toEqual(application);
    expect((await call(second, 'GET', `/job/${deleted}`)).status).toBe(404);
    expect(second.outcome(deleted)).toBe(first.outcome(deleted));

    // Uploaded bytes are served again and read by a job created after the restart.
    const moved = (url: string) => url.replace(first.url, second.url);
    expect(Buffer.from(await (await fetch(moved(used))).arrayBuffer())).toEqual(song);
    const later = await createJob(second, { params: { inputUrl: moved(unused) } });
    clock.advance(3_600_000);
    expect((await call<MusicaiJob>(second, 'GET', `/job/${later}`)).body).toMatchObject({ status: 'SUCCEEDED', error: null });
  });

  it('refuses a damaged state file or a missing upload, naming the file', async () => {
    await writeFile(stateFile, JSON.stringify({ format: 2, provider: 'musicai', applicationId: 'a', slots: [], jobs: [] }));
    await expect(startSim({ stateFile })).rejects.toThrow(SimulatorStateError);
    await expect(startSim({ stateFile })).rejects.toThrow(/musicai\.json: not a valid state: format/);

    await rm(stateFile);
    const first = await startSim({ stateFile });
    await upload(first);
    await first.close();
    await rm(`${stateFile}.uploads`, { recursive: true });
    await expect(startSim({ stateFile })).rejects.toThrow(/musicai\.json\.uploads\/[0-9a-f-]{36}: cannot be read/);
  });
});
