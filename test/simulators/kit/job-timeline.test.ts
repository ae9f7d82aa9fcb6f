import { describe, expect, it } from 'vitest';
import { planTimeline, stepAt } from '../../../src/simulators/kit/job-timeline.js';
import { createRandom } from '../../../src/simulators/kit/seeded-random.js';

const steps = [
  { status: 'QUEUED' as const, minMs: 1000, maxMs: 2000 },
  { status: 'RUNNING' as const, minMs: 4000, maxMs: 8000 },
  { status: 'DONE' as const, minMs: 0, maxMs: 0 },
];

describe('planTimeline', () => {
  it('starts at startedAt and accumulates durations drawn in [min, max] / speed', () => {
    for (const speed of [1, 10, 200]) {
      const t = planTimeline({ startedAt: 5000, speed, random: createRandom(speed), steps });
      expect(t.map((s) => s.status)).toEqual(['QUEUED', 'RUNNING', 'DONE']);
      expect(t[0]!.atMs).toBe(5000);
      const queued = t[1]!.atMs - t[0]!.atMs;
      const running = t[2]!.atMs - t[1]!.atMs;
      expect(queued).toBeGreaterThanOrEqual(1000 / speed);
      expect(queued).toBeLessThanOrEqual(2000 / speed);
      expect(running).toBeGreaterThanOrEqual(4000 / speed);
      expect(running).toBeLessThanOrEqual(8000 / speed);
      expect(t[2]!.progress).toBe(1);
    }
  });

  it('is deterministic for a seed and refuses a non-positive speed', () => {
    const a = planTimeline({ startedAt: 0, speed: 1, random: createRandom(3), steps });
    const b = planTimeline({ startedAt: 0, speed: 1, random: createRandom(3), steps });
    expect(a).toEqual(b);
    expect(() => planTimeline({ startedAt: 0, speed: 0, random: createRandom(3), steps })).toThrow(RangeError);
  });
});

describe('stepAt', () => {
  it('returns the step in force at a given time', () => {
    const t = planTimeline({ startedAt: 100, speed: 1, random: createRandom(1), steps });
    expect(stepAt(t, 0).status).toBe('QUEUED');
    expect(stepAt(t, 100).status).toBe('QUEUED');
    expect(stepAt(t, t[1]!.atMs - 1).status).toBe('QUEUED');
    expect(stepAt(t, t[1]!.atMs).status).toBe('RUNNING');
    expect(stepAt(t, t[2]!.atMs).status).toBe('DONE');
    expect(stepAt(t, t[2]!.atMs + 1e9).status).toBe('DONE');
    expect(() => stepAt([], 0)).toThrow(RangeError);
  });
});
