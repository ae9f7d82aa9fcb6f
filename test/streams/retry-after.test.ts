import { describe, expect, it } from 'vitest';
import { fullJitter } from '../../src/streams/backoff.js';
import { ChangeLog } from '../../src/streams/change-log.js';
import { parseRetryAfter } from '../../src/streams/retry-after.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-24T10:00:00Z');
  it.each([
    ['3', 3000],
    [' 120 ', 120_000],
    ['0.5', 500],
    ['Tue, 24 Nov 2026 10:00:07 GMT', 7000],
    ['Tue, 24 Nov 2026 09:00:00 GMT', 0],
    [['2', '9'], 2000],
  ] as const)('reads %j as %i ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([undefined, null, '', 'soon', '-1', '1 2'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('fullJitter', () => {
  it('stays within [0, min(max, initial * 2^(attempt-1)))', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    expect(fullJitter(1, policy, () => 0.999)).toBe(99);
    expect(fullJitter(3, policy, () => 0.5)).toBe(200);
    expect(fullJitter(10, policy, () => 0.999)).toBe(999);
    expect(fullJitter(4, policy, () => 0)).toBe(0);
  });
});

describe('ChangeLog', () => {
  const change = (seq: number) => ({ epoch: 'e', seq, previousStatus: null, job: {} as never });
  it('returns exactly the missed changes while they are kept', () => {
    const log = new ChangeLog(3);
    for (let seq = 1; seq <= 5; seq++) log.push(change(seq));
    expect(log.since(2)?.map((c) => c.seq)).toEqual([3, 4, 5]);
    expect(log.since(5)).toEqual([]);
    expect(log.since(1)).toBeUndefined();
    expect(log.since(6)).toBeUndefined();
  });
  it('refuses a seq that does not follow', () => {
    const log = new ChangeLog(3);
    log.push(change(1));
    expect(() => log.push(change(3))).toThrow('change seq 3 does not follow 1');
  });
});
