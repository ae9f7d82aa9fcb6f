import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/providers/retry-after.js';

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
