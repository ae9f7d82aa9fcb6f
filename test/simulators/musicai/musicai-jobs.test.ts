import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { listen } from '../../../src/simulators/kit/listen.js';
import { MUSICAI_CUSTOM_STORAGE, MusicaiJob, MusicaiJobErrorCode } from '../../../src/simulators/musicai/musicai-schemas.js';
import { musicaiWorkflows } from '../../../src/simulators/musicai/musicai-workflows.js';
import { parseWav } from '../kit/media-parsers.js';
import { call, closeSimsAfterEach, createJob, manualClock, startSim, upload, waitForTerminal } from './musicai-test-helpers.js';

closeSimsAfterEach();

const titles: Record<MusicaiJobErrorCode, string> = { BAD_INPUT: 'Invalid input', TIMEOUT: 'Timeout', INTERNAL_ERROR: 'Internal error' };

describe('Music.AI simulator › job lifecycle', () => {
  it('moves QUEUED → STARTED → SUCCEEDED on its clock, within ten seconds at speed 1', async () => {
    const clock = manualClock();
    const sim = await startSim({ speed: 1, now: clock.now, seed: 4 });
    const id = await createJob(sim, { params: { inputUrl: await upload(sim) } });
    const job = async () => MusicaiJob.parse((await call(sim, 'GET', `/job/${id}`)).body);

    const queued = await job();
    expect(queued).toMatchObject({ status: 'QUEUED', startedAt: null, completedAt: null, result: null, error: null });
    expect(queued.createdAt).toBe(new Date(clock.now()).toISOString());
    clock.advance(2001);
    const started = await job();
    expect(started.status).toBe('STARTED');
    expect(Date.parse(started.startedAt ?? '')).toBeGreaterThan(Date.parse(started.createdAt));
    expect(started.completedAt).toBeNull();
    clock.advance(7000);
    const done = await job();
    expect(done.status).toBe('SUCCEEDED');
    expect(Date.parse(done.completedAt ?? '')).toBeGreaterThan(Date.parse(done.startedAt ?? ''));
    expect(Date.parse(done.completedAt ?? '') - clock.now()).toBeLessThanOrEqual(0);
    expect(sim.outcome(id)).toBe('succeeded');
  });

  it('serves each output of a stem workflow as a valid WAV file', async () => {
    const sim = await startSim({ seed: 8 });
    const workflow = musicaiWorkflows.find((w) => w.slug === 'stems-six');
    const id = await createJob(sim, { workflow: 'stems-six', params: { inputUrl: await upload(sim) } });
    const { seen, job } = await waitForTerminal(sim, id);
    expect(seen.at(-1)).toBe('SUCCEEDED');
    expect(Object.keys(job.result ?? {})).toEqual(workflow?.outputs.map((o) => o.name));
    for (const url of Object.values(job.result ?? {})) {
      expect(String(url).startsWith(`${sim.url}/storage/results/${id}/`)).toBe(true);
      const res = await fetch(String(url));
      expect(res.headers.get('content-type')).toBe('audio/wav');
      const wav = parseWav(Buffer.from(await res.arrayBuffer()));
      expect(wav).toMatchObject({ format: 1, bitsPerSample: 16, channels: 2 });
      expect(wav.frames / wav.sampleRate).toBeGreaterThan(0.5);
      expect(wav.peak).toBeGreaterThan(0);
    }
    expect((await fetch(String(job.result?.vocals).replace(/signature=\w+/, 'signature=bad'))).status).toBe(404);
  });

  // Reproduction: every simulated workflow took `inputUrl`, so a client that hard-wires it passed.
  it('runs workflows that name their own inputs: Input1, and Input 1 with Input 2', async () => {
    const sim = await startSim({ seed: 9 });
    const chords = await createJob(sim, { workflow: 'music-ai/generate-chords', params: { Input1: await upload(sim) } });
    const mashup = await createJob(sim, {
      workflow: 'mashup-two-songs',
      params: { 'Input 1': await upload(sim), 'Input 2': 'https://example.com/b.mp3', mix: 0.5 },
    });
    expect((await waitForTerminal(sim, chords)).job.status).toBe('SUCCEEDED');
    const done = await waitForTerminal(sim, mashup);
    expect(done.job).toMatchObject({ status: 'SUCCEEDED', workflowParams: { 'Input 2': 'https://example.com/b.mp3', mix: 0.5 } });
    expect(Object.keys(done.job.result ?? {})).toEqual(['mashup']);
  });

  it('fails a two-input job with BAD_INPUT when its second input is an upload slot never written', async () => {
    const sim = await startSim({ seed: 9 });
    const slot = await call<{ downloadUrl: string }>(sim, 'GET', '/upload');
    const id = await createJob(sim, { workflow: 'mashup-two-songs', params: { 'Input 1': await upload(sim), 'Input 2': slot.body.downloadUrl } });
    const { job } = await waitForTerminal(sim, id);
    expect(job).toMatchObject({ status: 'FAILED', error: { code: 'BAD_INPUT' } });
  });

  it('returns a BPM scalar and a JSON beat map from the beat workflow', async () => {
    const sim = await startSim({ seed: 9 });
    const id = await createJob(sim, { workflow: 'untitled-workflow-e78c2e', params: { inputUrl: 'https://example.com/song.mp3' } });
    const { job } = await waitForTerminal(sim, id);
    const bpm = Number(job.result?.bpm);
    expect(typeof job.result?.bpm).toBe('string');
    expect(bpm).toBeGreaterThanOrEqual(80);
    expect(bpm).toBeLessThanOrEqual(160);
    const map = (await (await fetch(String(job.result?.beats))).json()) as { bpm: number; beats: { time: number; beat: number }[] };
    expect(map.bpm).toBe(bpm);
    expect(map.beats.length).toBeGreaterThan(4);
    expect(map.beats[1]?.time).toBeCloseTo(60 / bpm, 2);
    expect(map.beats.map((b) => b.beat).slice(0, 5)).toEqual([1, 2, 3, 4, 1]);
  });

  it('ends in FAILED with a documented error and no result when the failure knob fires', async () => {
    const sim = await startSim({ seed: 21, faults: { jobFailureRate: 1 } });
    const codes = new Set<string>();
    const ids = await Promise.all(Array.from({ length: 30 }, () => createJob(sim, { params: { inputUrl: 'https://example.com/a.mp3' } })));
    for (const id of ids) {
      const { seen, job } = await waitForTerminal(sim, id);
      expect(seen.at(-1)).toBe('FAILED');
      expect(job.result).toBeNull();
      const code = MusicaiJobErrorCode.parse(job.error?.code);
      expect(job.error?.title).toBe(titles[code]);
      expect(job.error?.message.length).toBeGreaterThan(0);
      expect(sim.outcome(id)).toBe('failed');
      codes.add(code);
    }
    expect([...codes].sort()).toEqual(['BAD_INPUT', 'INTERNAL_ERROR', 'TIMEOUT']);
  });

  it('decides the same outcomes for the same seed', async () => {
    const outcomes = async () => {
      const sim = await startSim({ seed: 99, faults: { jobFailureRate: 0.5 } });
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await createJob(sim, { params: { inputUrl: 'https://example.com/a.mp3' } }));
      return ids.map((id) => sim.outcome(id));
    };
    const first = await outcomes();
    expect(first).toContain('failed');
    expect(first).toContain('succeeded');
    expect(await outcomes()).toEqual(first);
  });

  it('answers undefined as the outcome of an unknown job', async () => {
    const sim = await startSim();
    expect(sim.outcome('2e35babc-91c4-4121-89f4-5a2acf956b28')).toBeUndefined();
  });
});

describe('Music.AI simulator › input', () => {
  it('fails with BAD_INPUT when the upload slot was never PUT', async () => {
    const sim = await startSim({ faults: { jobFailureRate: 0 } });
    const slot = await call<{ downloadUrl: string }>(sim, 'GET', '/upload');
    const id = await createJob(sim, { params: { inputUrl: slot.body.downloadUrl } });
    expect(sim.outcome(id)).toBe('failed');
    const { job } = await waitForTerminal(sim, id);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatchObject({ code: 'BAD_INPUT', title: 'Invalid input' });
  });

  it('fails with BAD_INPUT when an empty body was uploaded', async () => {
    const sim = await startSim();
    const id = await createJob(sim, { params: { inputUrl: await upload(sim, Buffer.alloc(0)) } });
    expect((await waitForTerminal(sim, id)).job.error?.code).toBe('BAD_INPUT');
  });

  it('fetches another loopback input once: 404 gives BAD_INPUT, a closed port TIMEOUT, 200 success', async () => {
    const sim = await startSim();
    let fetched = 0;
    const files = new Hono().get('/song.mp3', (c) => {
      fetched += 1;
      return c.body(new Uint8Array([1, 2, 3]));
    });
    const fileServer = await listen(files);
    const closed = await listen(new Hono());
    await closed.close();
    try {
      const ok = await createJob(sim, { params: { inputUrl: `${fileServer.url}/song.mp3` } });
      const missing = await createJob(sim, { params: { inputUrl: `${fileServer.url}/gone.mp3` } });
      const unreachable = await createJob(sim, { params: { inputUrl: `${closed.url}/song.mp3` } });
      expect((await waitForTerminal(sim, ok)).job.status).toBe('SUCCEEDED');
      expect((await waitForTerminal(sim, missing)).job.error?.code).toBe('BAD_INPUT');
      expect((await waitForTerminal(sim, unreachable)).job.error?.code).toBe('TIMEOUT');
      expect(fetched).toBe(1);
      expect([sim.outcome(ok), sim.outcome(missing), sim.outcome(unreachable)]).toEqual(['succeeded', 'failed', 'failed']);
    } finally {
      await fileServer.close();
    }
  });
});

describe('Music.AI simulator › copyResultsTo', () => {
  it('PUTs the chosen outputs to the given URLs and shows "[custom storage]" for them', async () => {
    const sim = await startSim({ seed: 5 });
    const target = await call<{ uploadUrl: string; downloadUrl: string }>(sim, 'GET', '/upload');
    const id = await createJob(sim, {
      workflow: 'vocals-accompaniment',
      params: { inputUrl: await upload(sim) },
      copyResultsTo: { vocals: target.body.uploadUrl },
    });
    const { job } = await waitForTerminal(sim, id);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result?.vocals).toBe(MUSICAI_CUSTOM_STORAGE);
    expect(String(job.result?.accompaniments)).toContain('/storage/results/');
    const copied = await fetch(target.body.downloadUrl);
    expect(copied.headers.get('content-type')).toBe('audio/wav');
    expect(parseWav(Buffer.from(await copied.arrayBuffer())).bitsPerSample).toBe(16);
    expect(sim.outcome(id)).toBe('succeeded');
  });

  it('fails the job with INTERNAL_ERROR when the target refuses the file', async () => {
    const sim = await startSim({ seed: 6 });
    const target = await call<{ uploadUrl: string }>(sim, 'GET', '/upload');
    const forged = target.body.uploadUrl.replace(/signature=\w+/, 'signature=forged');
    const id = await createJob(sim, { params: { inputUrl: await upload(sim) }, copyResultsTo: { drums: forged } });
    const { job } = await waitForTerminal(sim, id);
    expect(job.status).toBe('FAILED');
    expect(job.error?.code).toBe('INTERNAL_ERROR');
    expect(job.error?.message).toContain('drums');
    expect(sim.outcome(id)).toBe('failed');
  });
});
