import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSnapshot, isSettled, recordArtifacts, reduce } from '../../src/streams/job-reducer.js';
import type { JobSnapshot, Observation } from '../../src/streams/job-snapshot.js';
import { isTerminal, JobStatus, rank } from '../../src/streams/job-status.js';

const fresh = (): JobSnapshot =>
  createSnapshot({
    id: 'job_1',
    provider: 'fake',
    kind: 'transcription',
    externalId: null,
    name: null,
    metadata: {},
    options: {},
    createdAt: 1000,
  });

const at = (snapshot: Partial<JobSnapshot>): JobSnapshot => ({ ...fresh(), ...snapshot });
const obs = (o: Partial<Observation> & Pick<Observation, 'status'>): Observation => ({ source: 'poll', observedAt: 2000, ...o });

describe('reduce', () => {
  const table: [string, JobSnapshot, Observation, Partial<JobSnapshot> | 'unchanged'][] = [
    ['raises queued to running', at({}), obs({ status: 'running', providerStatus: 'IN_PROGRESS' }), { status: 'running', providerStatus: 'IN_PROGRESS', version: 2 }],
    ['raises running to succeeded and fills progress', at({ status: 'running', progress: 0.4, version: 3 }), obs({ status: 'succeeded', result: { url: 'x' } }), { status: 'succeeded', progress: 1, result: { url: 'x' }, version: 4 }],
    ['jumps queued straight to failed with the error', at({}), obs({ status: 'failed', error: { code: 'BAD_INPUT', message: 'no' } }), { status: 'failed', error: { code: 'BAD_INPUT', message: 'no' } }],
    ['refuses a lower rank', at({ status: 'running', version: 2 }), obs({ status: 'queued' }), 'unchanged'],
    ['refuses an exact duplicate', at({ status: 'running', version: 2, providerStatus: 'STARTED' }), obs({ status: 'running', providerStatus: 'STARTED' }), 'unchanged'],
    ['refuses a same-rank change of the provider status alone', at({ status: 'running', providerStatus: 'A' }), obs({ status: 'running', providerStatus: 'B' }), 'unchanged'],
    ['accepts higher progress at the same rank', at({ status: 'running', progress: 0.2, version: 2 }), obs({ status: 'running', progress: 0.5 }), { progress: 0.5, version: 3 }],
    ['refuses lower progress at the same rank', at({ status: 'running', progress: 0.5 }), obs({ status: 'running', progress: 0.2 }), 'unchanged'],
    ['keeps progress when a higher rank reports less', at({ status: 'queued', progress: 0.3 }), obs({ status: 'running', progress: 0.1 }), { status: 'running', progress: 0.3 }],
    ['accepts the external id where there was none', at({}), obs({ status: 'queued', externalId: 'ext-1', source: 'submit' }), { externalId: 'ext-1', source: 'submit' }],
    ['never replaces a known external id', at({ externalId: 'ext-1' }), obs({ status: 'queued', externalId: 'ext-2' }), 'unchanged'],
    ['treats a null result as no result', at({ status: 'running' }), obs({ status: 'running', result: null }), 'unchanged'],
    ['never changes a succeeded job', at({ status: 'succeeded', version: 5 }), obs({ status: 'failed', error: { code: 'X', message: 'late' } }), 'unchanged'],
    ['never changes a canceled job', at({ status: 'canceled' }), obs({ status: 'succeeded', result: 1 }), 'unchanged'],
    ['does not move updatedAt backwards for a late observation', at({ updatedAt: 5000 }), obs({ status: 'running', observedAt: 3000 }), { updatedAt: 5000 }],
    ['records where the change came from', at({}), obs({ status: 'running', source: 'webhook' }), { source: 'webhook' }],
  ];

  it.each(table)('%s', (_name, snapshot, observation, expected) => {
    const next = reduce(snapshot, observation);
    if (expected === 'unchanged') {
      expect(next).toBe(snapshot);
    } else {
      expect(next).not.toBe(snapshot);
      expect(next).toMatchObject(expected);
      expect(next.version).toBe(snapshot.version + 1);
    }
  });

  it('does not mutate the snapshot it is given', () => {
    const snapshot = Object.freeze(at({ status: 'running' }));
    expect(() => reduce(snapshot, obs({ status: 'succeeded' }))).not.toThrow();
    expect(snapshot.status).toBe('running');
  });
});

describe('reduce over any delivery order (property)', () => {
  const observation = fc.record({
    status: fc.constantFrom(...JobStatus.options),
    progress: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    result: fc.option(fc.integer(), { nil: undefined }),
    source: fc.constantFrom('poll' as const, 'webhook' as const),
    observedAt: fc.integer({ min: 0, max: 1e9 }),
  });
  // A job's observations, then delivered with duplicates and in any order.
  const deliveries = fc
    .array(observation, { minLength: 1, maxLength: 12 })
    .chain((seen) =>
      fc
        .array(fc.nat({ max: seen.length - 1 }), { minLength: seen.length, maxLength: seen.length * 3 })
        .map((picks) => picks.map((i) => seen[i]!)),
    )
    .map((list) => list.map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Observation));

  it('ends at the highest rank seen, first terminal wins, versions rise by one, nothing after terminal', () => {
    fc.assert(
      fc.property(deliveries, (list) => {
        let snapshot = fresh();
        const versions = [snapshot.version];
        let firstTerminal: JobSnapshot | undefined;
        for (const o of list) {
          const next = reduce(snapshot, o);
          if (firstTerminal !== undefined) expect(next).toBe(firstTerminal);
          if (next !== snapshot) versions.push(next.version);
          snapshot = next;
          if (firstTerminal === undefined && isTerminal(snapshot.status)) firstTerminal = snapshot;
        }
        // (a) the highest-ranked status seen; among terminals, the first one delivered.
        const maxRank = Math.max(0, ...list.map((o) => rank(o.status)));
        expect(rank(snapshot.status)).toBe(maxRank);
        const firstTerminalSeen = list.find((o) => isTerminal(o.status));
        if (firstTerminalSeen !== undefined) expect(snapshot.status).toBe(firstTerminalSeen.status);
        // (b) strictly increasing by one, no repeats.
        versions.forEach((v, i) => expect(v).toBe(i + 1));
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('never lowers progress', () => {
    fc.assert(
      fc.property(deliveries, (list) => {
        let snapshot = fresh();
        for (const o of list) {
          const next = reduce(snapshot, o);
          if (snapshot.progress !== null) expect(next.progress).not.toBeNull();
          if (snapshot.progress !== null && next.progress !== null) expect(next.progress).toBeGreaterThanOrEqual(snapshot.progress);
          snapshot = next;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('recordArtifacts', () => {
  const pending = { state: 'pending' as const, files: [], error: null };
  const complete = { state: 'complete' as const, files: [{ name: 'a.wav', contentType: 'audio/wav', bytes: 4 }], error: null };
  const failed = { state: 'failed' as const, files: [], error: 'gone' };
  const table: [string, Partial<JobSnapshot>, Parameters<typeof recordArtifacts>[1], 'accepted' | 'unchanged'][] = [
    ['starts copying a succeeded job', { status: 'succeeded', artifacts: null }, pending, 'accepted'],
    ['completes a pending copy', { status: 'succeeded', artifacts: pending }, complete, 'accepted'],
    ['fails a pending copy', { status: 'succeeded', artifacts: pending }, failed, 'accepted'],
    ['never reopens a complete copy', { status: 'succeeded', artifacts: complete }, pending, 'unchanged'],
    ['never rewrites a finished copy', { status: 'succeeded', artifacts: failed }, complete, 'unchanged'],
    ['needs a pending state first', { status: 'succeeded', artifacts: null }, complete, 'unchanged'],
    ['ignores jobs that did not succeed', { status: 'failed', artifacts: null }, pending, 'unchanged'],
  ];
  it.each(table)('%s', (_name, snapshot, artifacts, expected) => {
    const before = at({ version: 4, ...snapshot });
    const after = recordArtifacts(before, artifacts, 9000);
    if (expected === 'unchanged') return expect(after).toBe(before);
    expect(after).toMatchObject({ artifacts, version: 5, source: 'results', status: before.status, result: before.result });
  });

  it('settles a job only when no copy is pending', () => {
    expect(isSettled(at({ status: 'succeeded', artifacts: pending }))).toBe(false);
    expect(isSettled(at({ status: 'succeeded', artifacts: complete }))).toBe(true);
    expect(isSettled(at({ status: 'running' }))).toBe(false);
    expect(isSettled(at({ status: 'canceled' }))).toBe(true);
  });
});
