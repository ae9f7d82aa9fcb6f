import { describe, expect, it } from 'vitest';
import { parseRateLimitReset, parseRetryAfter } from '../../src/providers/retry-after.js';

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

describe('parseRateLimitReset', () => {
  const now = Date.parse('2026-11-24T10:00:00Z');
  it.each([
    [String(now / 1000 + 7), 7000, 'Unix seconds, as the Camb.ai SDK reads it'],
    [String(now + 2500), 2500, 'Unix milliseconds'],
    [String(now / 1000 - 60), 0, 'a reset in the past'],
    ['30', 30_000, 'seconds from now'],
    [[String(now / 1000 + 1), '9'], 1000, 'the first of repeated headers'],
  ] as const)('reads %j as %i ms (%s)', (value, ms, _why) => {
    expect(parseRateLimitReset(value, now)).toBe(ms);
  });

  it.each([undefined, null, '', 'soon', '-1', 'Tue, 24 Nov 2026 10:00:07 GMT'])('ignores %j', (value) => {
    expect(parseRateLimitReset(value, now)).toBeUndefined();
  });
});
