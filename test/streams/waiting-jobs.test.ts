import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl } from '../support/fake-provider.js';

let dir: string;
const engines: Engine[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-pipeline-'));
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(dir, { recursive: true, force: true });
});

async function setup(provider = new FakeProvider(), store: 'memory' | 'file' = 'memory') {
  const engine = await createEngine({
    providers: [provider],
    webhookUrl: hookUrl,
    ...(store === 'memory' ? { store: new MemoryStore(), resultsDir: join(dir, 'results') } : { dataDir: dir }),
  });
  engines.push(engine);
  return engine;
}

const url = { type: 'url' as const, url: 'https://example.com/a.wav' };

describe('pipelines: a job that starts when another succeeds', () => {
  it('waits, then starts with the upstream external id in an option', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const separation = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const midi = await engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: separation.id, externalIdOption: 'taskId' } });
    expect(midi).toMatchObject({ status: 'queued', providerStatus: 'waiting', externalId: null, after: { jobId: separation.id, startedAt: null } });
    expect(provider.created).toHaveLength(1);

    provider.set('ext-1', 'DONE', { result: { stems: 2 } });
    await engine.waitFor(separation.id, { timeoutMs: 5000 });
    await expect.poll(() => provider.created.length).toBe(2);
    expect(provider.created[1]?.options).toEqual({ taskId: 'ext-1' });
    const started = engine.get(midi.id);
    // The filled-in option is recorded, so polls and result files see what the provider got.
    expect(started).toMatchObject({ externalId: 'ext-2', options: { taskId: 'ext-1' }, after: { startedAt: expect.any(Number) } });
    provider.set('ext-2', 'DONE', { result: 'notes' });
    expect((await engine.waitFor(midi.id, { timeoutMs: 5000 })).status).toBe('succeeded');
  });

  it('fails with the reason when the upstream job fails, without calling the provider', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const first = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const second = await engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: first.id, externalIdOption: 'taskId' } });
    provider.set('ext-1', 'BROKEN', { error: { code: 'BAD_INPUT', message: 'corrupt audio' } });
    const failed = await engine.waitFor(second.id, { timeoutMs: 5000 });
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_FAILED', message: `job ${first.id} failed (BAD_INPUT: corrupt audio)` } });
    expect(provider.created).toHaveLength(1);
  });

  it("takes its input from one of the upstream job's result files", async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const stems = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    let uploaded = '';
    provider.beforeCreate = async (request) => {
      if (request.input?.type === 'file') uploaded = await readFile(request.input.path, 'utf8');
    };
    const chords = await engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: stems.id, inputFrom: 'result.txt' } });
    provider.set('ext-1', 'DONE', { result: 'guitar stem' });
    await expect.poll(() => provider.created.length).toBe(2);
    expect(provider.created[1]?.input).toMatchObject({ type: 'file', filename: 'result.txt', contentType: 'text/plain' });
    expect(uploaded).toBe('content of guitar stem');
    expect(engine.get(chords.id)?.externalId).toBe('ext-2');
  });

  it('fails clearly when the named result file does not exist', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const first = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const second = await engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: first.id, inputFrom: 'drums.wav' } });
    provider.set('ext-1', 'DONE', { result: 'stems' });
    const failed = await engine.waitFor(second.id, { timeoutMs: 5000 });
    expect(failed.error).toEqual({ code: 'UPSTREAM_RESULT_UNAVAILABLE', message: `result "drums.wav" of job ${first.id}: no such file (files: result.txt)` });
  });

  it('starts at once when the upstream job has already succeeded', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const first = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    provider.set('ext-1', 'DONE', { result: { ok: true } });
    await engine.waitFor(first.id, { timeoutMs: 5000 });
    const second = await engine.submit({ provider: 'fake', kind: 'transcription', input: url, after: { jobId: first.id } });
    expect(second).toMatchObject({ externalId: 'ext-2', providerStatus: 'WAITING' });
    expect(provider.created[1]?.input).toEqual(url);
  });

  it('refuses a link to an unknown job, a file input, or an input with inputFrom', async () => {
    const engine = await setup();
    const first = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const cases: [object, string][] = [
      [{ after: { jobId: 'job_nope' } }, 'after.jobId: no job "job_nope"'],
      [{ input: { type: 'file', path: '/tmp/x.wav' }, after: { jobId: first.id } }, 'input: a job that waits for another takes a URL'],
      [{ input: url, after: { jobId: first.id, inputFrom: 'result.txt' } }, 'after.inputFrom: give either an input or after.inputFrom, not both'],
    ];
    for (const [extra, message] of cases) {
      await expect(engine.submit({ provider: 'fake', kind: 'transcription', ...extra })).rejects.toThrow(message);
    }
    expect(engine.snapshot().jobs).toHaveLength(1);
  });

  it('keeps waiting across a restart, and starts when the upstream job succeeds', async () => {
    const provider = new FakeProvider();
    const first = await setup(provider, 'file');
    const upstream = await first.submit({ provider: 'fake', kind: 'separation', input: url });
    const step = await first.submit({ provider: 'fake', kind: 'transcription', after: { jobId: upstream.id, externalIdOption: 'taskId' } });
    await first.close();
    engines.splice(engines.indexOf(first), 1);

    const second = await setup(provider, 'file');
    expect(second.get(step.id)).toMatchObject({ status: 'queued', providerStatus: 'waiting' });
    provider.set('ext-1', 'DONE', { result: { ok: true } });
    await expect.poll(() => second.get(step.id)?.externalId).toBe('ext-2');
    expect(provider.created[1]?.options).toEqual({ taskId: 'ext-1' });
  });
});
