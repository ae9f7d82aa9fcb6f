import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import type { JobChange } from '../../src/streams/job-change.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { MemorySharedStore } from '../support/memory-shared-log.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** Two engines (members) on one shared store, on virtual time (no poll runs unless a test advances it). */
async function cluster(members = 2) {
  const shared = new MemorySharedStore();
  const provider = new FakeProvider();
  const started: { engine: Engine; changes: JobChange[] }[] = [];
  for (let i = 0; i < members; i++) {
    const engine = await createEngine({ providers: [provider], cluster: shared.backend(), scheduler: new VirtualClock(), random: () => 0.5, webhookUrl: hookUrl, resultsDir: false });
    engines.push(engine);
    const changes: JobChange[] = [];
    engine.changes$().subscribe((change) => changes.push(change));
    started.push({ engine, changes });
  }
  const hook = (engine: Engine, body: object) => engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]!.webhookUrl), body });
  /** Resolves once every member has published change `seq`. */
  const reached = (seq: number) => Promise.all(started.map(({ engine }) => firstValueFrom(engine.changes$().pipe(filter((c) => c.seq >= seq)), { defaultValue: undefined }).then(() => undefined)));
  return { shared, provider, members: started, hook, reached };
}

const wire = (changes: readonly JobChange[]) => changes.map((c) => [c.epoch, c.seq, c.job.id, c.job.version, c.job.status, c.previousStatus]);

describe('engines sharing one log (a cluster)', () => {
  it('a job submitted at one member is published by every member, with one epoch and one global seq', async () => {
    const { members, shared } = await cluster();
    const [a, b] = members;
    expect(a!.engine.epoch).toBe(shared.epoch);
    expect(b!.engine.epoch).toBe(shared.epoch);
    const job = await a!.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(job.version).toBe(2);
    // The submit resolved once A read its own change back: B reads the same log.
    await firstValueFrom(b!.engine.job$(job.id).pipe(filter((j) => j.version === 2)));
    expect(wire(b!.changes)).toEqual(wire(a!.changes));
    expect(a!.changes.map((c) => c.seq)).toEqual([1, 2]);
    // A client that leaves A resumes at B with exactly what it missed.
    expect(wire(b!.engine.changesSince(shared.epoch, 1)!)).toEqual(wire(a!.changes.slice(1)));
  });

  it('a webhook may land on any member: the member that did not submit the job takes it and everyone publishes it', async () => {
    const { members, hook } = await cluster();
    const [a, b] = members;
    const job = await a!.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await firstValueFrom(b!.engine.job$(job.id).pipe(filter((j) => j.version === 2)));
    const outcome = await hook(b!.engine, { id: 'ext-1', status: 'WORKING', progress: 0.4 });
    expect(outcome).toMatchObject({ outcome: 'applied' });
    const seen = await firstValueFrom(a!.engine.job$(job.id).pipe(filter((j) => j.progress === 0.4)));
    expect(seen.status).toBe('running');
    expect(wire(a!.changes)).toEqual(wire(b!.changes));
  });

  it('two members changing one job at once: the second meets a version conflict and derives its change again on the stored state (nothing lost, forward only)', async () => {
    const { members, hook, shared } = await cluster();
    const [a, b] = members;
    const job = await a!.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await firstValueFrom(b!.engine.job$(job.id).pipe(filter((j) => j.version === 2)));
    let release!: () => void;
    shared.gate = new Promise((resolve) => (release = resolve));
    // Both fold their webhook into version 2: both make a version 3.
    const atA = hook(a!.engine, { id: 'ext-1', status: 'WORKING', progress: 0.3 });
    const atB = hook(b!.engine, { id: 'ext-1', status: 'WORKING', progress: 0.5, result: undefined });
    release();
    shared.gate = undefined;
    await Promise.all([atA, atB]);
    expect(shared.conflicts).toBeGreaterThanOrEqual(1);
    // Both observations are in: two changes, consecutive, the later one derived from the first.
    const stored = shared.jobs.get(job.id)!.job;
    expect(stored).toMatchObject({ version: 4, status: 'running', progress: 0.5 });
    await Promise.all(members.map(({ engine }) => firstValueFrom(engine.job$(job.id).pipe(filter((j) => j.version === 4)))));
    for (const { changes } of members) expect(changes.map((c) => [c.seq, c.job.version])).toEqual([[1, 1], [2, 2], [3, 3], [4, 4]]);
    expect(wire(a!.changes)).toEqual(wire(b!.changes));
  });

  it('a change that another member already made is dropped, not written twice; both webhooks are answered', async () => {
    const { members, hook, shared } = await cluster();
    const [a, b] = members;
    const job = await a!.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await firstValueFrom(b!.engine.job$(job.id).pipe(filter((j) => j.version === 2)));
    let release!: () => void;
    shared.gate = new Promise((resolve) => (release = resolve));
    const done = { id: 'ext-1', status: 'DONE', result: 'r' };
    const answers = Promise.all([hook(a!.engine, done), hook(b!.engine, done)]);
    release();
    shared.gate = undefined;
    await answers;
    expect(shared.log.filter((c) => c.job.id === job.id && c.job.status === 'succeeded')).toHaveLength(1);
    expect(shared.jobs.get(job.id)!.job).toMatchObject({ version: 3, status: 'succeeded', result: 'r' });
    await Promise.all(members.map(({ engine }) => firstValueFrom(engine.job$(job.id).pipe(filter((j) => j.status === 'succeeded')))));
    expect(wire(a!.changes)).toEqual(wire(b!.changes));
  });

  it('while the shared store does not answer, health says so with the time it was first noticed, not a new time at every look', async () => {
    const shared = new MemorySharedStore();
    const log = shared.member();
    let available = true;
    Object.defineProperty(log, 'available', { get: () => available });
    const engine = await createEngine({ providers: [new FakeProvider()], cluster: { log, pollSchedule: (o) => shared.backend().pollSchedule(o), close: () => Promise.resolve() }, scheduler: new VirtualClock(), resultsDir: false });
    engines.push(engine);
    expect(engine.health).toEqual({ status: 'ok' });
    available = false;
    const first = engine.health;
    expect(first).toMatchObject({ status: 'unavailable', reason: 'store: shared store: not reachable' });
    const later = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 60_000);
    try {
      expect(engine.health).toEqual(first);
    } finally {
      later.mockRestore();
    }
    available = true;
    expect(engine.health).toEqual({ status: 'ok' });
  });

  it('a member that starts later loads every job and the log tail from the shared store', async () => {
    const { members, shared, provider } = await cluster(1);
    const [a] = members;
    const job = await a!.engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const late = await createEngine({ providers: [provider], cluster: shared.backend(), scheduler: new VirtualClock(), webhookUrl: hookUrl, resultsDir: false });
    engines.push(late);
    expect(late.epoch).toBe(shared.epoch);
    expect(late.seq).toBe(2);
    expect(late.snapshot().jobs.map((j) => [j.id, j.version])).toEqual([[job.id, 2]]);
    expect(wire(late.history(job.id))).toEqual(wire(a!.changes));
  });
});
