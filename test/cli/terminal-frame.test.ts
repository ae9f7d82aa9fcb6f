import { describe, expect, it } from 'vitest';
import { liveFrame } from '../../src/cli/live-view.js';
import { fitFrame } from '../../src/cli/terminal-frame.js';
import { columnsOf } from '../../src/cli/terminal-text.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';

const more = (n: number) => `…and ${n} more`;

function jobs(count: number, patch: (i: number) => Partial<JobSnapshot> = () => ({})): Map<string, JobSnapshot> {
  const all = Array.from({ length: count }, (_, i) => ({
    ...createSnapshot({
      id: `job_01m96n${String(i).padStart(20, '0')}`,
      provider: 'klangio',
      kind: 'chord-recognition-extended',
      externalId: null,
      name: `a long job name that goes on and on #${i}`,
      metadata: {},
      options: {},
      createdAt: 1000,
    }),
    ...patch(i),
  }));
  return new Map(all.map((job) => [job.id, job]));
}

describe('fitFrame', () => {
  it('keeps a frame that fits as it is', () => {
    expect(fitFrame(['title', 'header', 'a', 'b'], { rows: 24, columns: 80 }, { keep: 2, more })).toEqual(['title', 'header', 'a', 'b']);
  });

  it('keeps the header lines, fills the rest and says how many are left out, in rows - 1 lines', () => {
    const lines = ['title', 'header', ...Array.from({ length: 30 }, (_, i) => `row ${i}`)];
    const frame = fitFrame(lines, { rows: 10, columns: 80 }, { keep: 2, more });
    expect(frame).toEqual(['title', 'header', 'row 0', 'row 1', 'row 2', 'row 3', 'row 4', 'row 5', '…and 24 more']);
  });

  it('cuts every line one column short of the width, wide characters and colours included', () => {
    const frame = fitFrame(['x'.repeat(100), `\x1b[32m${'日本'.repeat(30)}\x1b[0m`], { rows: 24, columns: 40 }, { keep: 1, more });
    expect(frame.map(columnsOf)).toEqual([39, 39]);
    expect(frame[0]).toBe(`${'x'.repeat(38)}…`);
    // The colour is closed before the ellipsis, and no wide character is cut in half.
    expect(frame[1]).toBe(`\x1b[32m${'日本'.repeat(9)}日\x1b[39m…`);
  });

  it('still draws in a terminal too small for anything but the title', () => {
    expect(fitFrame(['title', 'header', 'a'], { rows: 2, columns: 4 }, { keep: 2, more })).toEqual(['ti…']);
  });
});

describe('liveFrame', () => {
  it('fits 180 jobs into 80x24: one title with the totals, the newest jobs, and the rest counted by status', () => {
    const frame = liveFrame(jobs(180, (i) => (i < 100 ? { status: 'succeeded' } : i < 170 ? { status: 'running', progress: 0.5 } : {})), 'open', { rows: 24, columns: 80 }, { now: 2000, colour: true });
    expect(frame).toHaveLength(23);
    expect(frame.filter((line) => line.startsWith('jobstream watch'))).toEqual(['jobstream watch — open — 180 jobs: 10 queued, 70 running, 100 succeeded']);
    expect(frame[1]).toMatch(/^ID +NAME +STATUS +PROGRESS$/);
    expect(frame[2]).toContain('job_01m96n00000000000000000179');
    expect(frame[21]).toContain('job_01m96n00000000000000000160');
    expect(frame[22]).toBe('…and 160 more (60 running, 100 succeeded)');
    expect(Math.max(...frame.map(columnsOf))).toBeLessThanOrEqual(79);
  });

  it('shows every column in a wide terminal', () => {
    const frame = liveFrame(jobs(2), 'resuming', { rows: 24, columns: 200 }, { now: 2000, colour: false });
    expect(frame[0]).toBe('jobstream watch — resuming — 2 jobs: 2 queued');
    expect(frame[1]).toMatch(/^ID +PROVIDER\/KIND +NAME +STATUS +PROGRESS +AGE +VIA$/);
  });
});
