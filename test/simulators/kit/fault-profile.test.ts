import { describe, expect, it } from 'vitest';
import { FaultProfile, faultPresets, mergeFaults } from '../../../src/simulators/kit/fault-profile.js';

describe('FaultProfile', () => {
  it('parses an empty object as "no faults"', () => {
    const none = FaultProfile.parse({});
    expect(none.serverErrorRate).toBe(0);
    expect(none.slowRate).toBe(0);
    expect(none.jobFailureRate).toBe(0);
    expect(none.rateLimit).toBeNull();
    expect(none.latencyMs).toEqual({ min: 0, max: 0 });
    expect(none.webhook).toMatchObject({ duplicateRate: 0, reorderRate: 0, dropRate: 0, lateRate: 0 });
    expect(faultPresets.none).toEqual(none);
  });

  it('refuses rates outside 0..1 and inverted latency bounds', () => {
    expect(FaultProfile.safeParse({ serverErrorRate: 1.5 }).success).toBe(false);
    expect(FaultProfile.safeParse({ webhook: { dropRate: -0.1 } }).success).toBe(false);
    expect(FaultProfile.safeParse({ latencyMs: { min: 10, max: 5 } }).success).toBe(false);
  });

  it('describes the mild and hostile presets as documented', () => {
    expect(faultPresets.mild).toMatchObject({ serverErrorRate: 0.02, jobFailureRate: 0.1, webhook: { duplicateRate: 0.05 } });
    expect(faultPresets.mild.latencyMs.max).toBeGreaterThan(0);
    expect(faultPresets.hostile).toMatchObject({
      serverErrorRate: 0.1,
      slowRate: 0.05,
      jobFailureRate: 0.15,
      webhook: { duplicateRate: 0.2, reorderRate: 0.2, dropRate: 0.1 },
    });
    expect(faultPresets.hostile.rateLimit).not.toBeNull();
  });
});

describe('mergeFaults', () => {
  it('merges nested objects and keeps unspecified fields', () => {
    const merged = mergeFaults(faultPresets.hostile, { webhook: { dropRate: 0 }, latencyMs: { max: 500 } });
    expect(merged.webhook.dropRate).toBe(0);
    expect(merged.webhook.duplicateRate).toBe(0.2);
    expect(merged.latencyMs).toEqual({ min: faultPresets.hostile.latencyMs.min, max: 500 });
    expect(merged.serverErrorRate).toBe(0.1);
  });

  it('clears the rate limit with null and validates the result', () => {
    expect(mergeFaults(faultPresets.hostile, { rateLimit: null }).rateLimit).toBeNull();
    expect(() => mergeFaults(faultPresets.none, { jobFailureRate: 2 })).toThrow();
  });
});
