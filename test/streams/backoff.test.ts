import { describe, expect, it } from 'vitest';
import { fullJitter } from '../../src/streams/backoff.js';

describe('fullJitter', () => {
  it('stays within [0, min(max, initial * 2^(attempt-1)))', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    expect(fullJitter(1, policy, () => 0.999)).toBe(99);
    expect(fullJitter(3, policy, () => 0.5)).toBe(200);
    expect(fullJitter(10, policy, () => 0.999)).toBe(999);
    expect(fullJitter(4, policy, () => 0)).toBe(0);
  });
});
