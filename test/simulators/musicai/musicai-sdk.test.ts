import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MusicaiJob } from '../../../src/simulators/musicai/musicai-schemas.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import { parseWav } from '../kit/media-parsers.js';
import { closeSimsAfterEach, startSim } from './musicai-test-helpers.js';

closeSimsAfterEach();

// The SDK's postinstall writes build.json, which it imports; `npm ci` runs it.
const { default: MusicAi, MusicAiSdkError } = await import('@music.ai/sdk');

let dir: string;
let inputFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musicai-sdk-'));
  inputFile = join(dir, 'song.wav');
  await writeFile(inputFile, wavFile({ seconds: 0.2, sampleRate: 8000, channels: 1 }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Music.AI simulator with the official @music.ai/sdk', () => {
  it('runs the full flow given only apiEndpoint', async () => {
    const sim = await startSim({ seed: 12, applicationName: 'SDK App' });
    const musicAi = new MusicAi({ apiKey: sim.apiKey, apiEndpoint: `${sim.url}/v1`, jobMonitorInterval: 10 });

    expect(await musicAi.getApplicationInfo()).toEqual({ id: expect.any(String), name: 'SDK App' });
    const { workflows } = await musicAi.listWorkflows({ page: 0, size: 10 });
    const workflow = workflows.find((w) => w.slug === 'stems-four');
    expect(workflow?.name).toBe('4 Stems');

    const inputUrl = await musicAi.uploadFile(inputFile);
    expect(inputUrl.startsWith(sim.url)).toBe(true);
    const id = await musicAi.addJob({
      name: 'sdk job',
      workflow: 'stems-four',
      params: { inputUrl },
      metadata: { origin: 'test', attempt: 1 },
    });
    const done = MusicaiJob.parse(await musicAi.waitForJobCompletion(id));
    expect(done).toMatchObject({ id, status: 'SUCCEEDED', error: null, workflow: 'stems-four', metadata: { origin: 'test', attempt: 1 } });
    expect(await musicAi.getJobStatus(id)).toEqual({ id, status: 'SUCCEEDED' });
    expect(MusicaiJob.parse(await musicAi.getJob(id))).toEqual(done);

    const vocals = await fetch(String(done.result?.vocals));
    expect(parseWav(Buffer.from(await vocals.arrayBuffer())).format).toBe(1);

    expect((await musicAi.listJobs({ status: ['SUCCEEDED'], workflow: ['stems-four'] })).map((j) => j.id)).toEqual([id]);
    expect(await musicAi.listJobs({ status: ['FAILED'] })).toEqual([]);
    expect((await musicAi.listJobs()).map((j) => j.id)).toEqual([id]);

    expect(await musicAi.deleteJob(id)).toEqual({ id });
    await expect(musicAi.getJob(id)).rejects.toThrow(new MusicAiSdkError('Job not found'));
    expect(sim.outcome(id)).toBe('succeeded');
  });

  it('returns a FAILED job with BAD_INPUT when the upload never happened', async () => {
    const sim = await startSim();
    const musicAi = new MusicAi({ apiKey: sim.apiKey, apiEndpoint: sim.apiEndpoint, jobMonitorInterval: 10 });
    const slot = await fetch(`${sim.apiEndpoint}/upload`, { headers: { authorization: sim.apiKey } });
    const { downloadUrl } = (await slot.json()) as { downloadUrl: string };
    const id = await musicAi.addJob('sdk job', 'vocals-accompaniment', { inputUrl: downloadUrl });
    const job = await musicAi.waitForJobCompletion(id);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatchObject({ code: 'BAD_INPUT', title: 'Invalid input' });
    await expect(musicAi.downloadJobResults(job, join(dir, 'out'))).rejects.toThrow(/failed/);
  });

  it('surfaces error messages through MusicAiSdkError', async () => {
    const sim = await startSim();
    const good = new MusicAi({ apiKey: sim.apiKey, apiEndpoint: sim.apiEndpoint });
    const bad = new MusicAi({ apiKey: 'not-the-key', apiEndpoint: sim.apiEndpoint });
    await expect(bad.getApplicationInfo()).rejects.toThrow(new MusicAiSdkError('Missing or invalid API key'));
    await expect(good.addJob({ name: 'x', workflow: 'nope', params: { inputUrl: 'https://e.com/a.mp3' } })).rejects.toThrow(
      'Workflow not found: nope',
    );
    await expect(good.addJob({ name: 'x', workflow: 'stems-four', params: {} })).rejects.toThrow(/inputUrl/);
    sim.setFaults({ serverErrorRate: 1 });
    await expect(good.listJobs()).rejects.toBeInstanceOf(MusicAiSdkError);
  });
});
