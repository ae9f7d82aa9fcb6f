import { describe, expect, it } from 'vitest';
import { between, createRandom, hexId, pick, seededUuid } from '../../../src/simulators/kit/seeded-random.js';

describe('createRandom', () => {
  it('repeats the same sequence for the same seed', () => {
    const a = createRandom(123);
    const b = createRandom(123);
    const seqA = Array.from({ length: 20 }, () => a());
    const seqB = Array.from({ length: 20 }, () => b());
    expect(seqA).toEqual(seqB);
  });

  it('gives different sequences for different seeds', () => {
    const a = createRandom(1);
    const b = createRandom(2);
    expect(Array.from({ length: 5 }, () => a())).not.toEqual(Array.from({ length: 5 }, () => b()));
  });

  it('stays in [0, 1) and spreads over the range', () => {
    const r = createRandom();
    const values = Array.from({ length: 5000 }, () => r());
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });

  it('picks every element of a list eventually and draws within bounds', () => {
    const r = createRandom(9);
    const seen = new Set(Array.from({ length: 200 }, () => pick(r, ['a', 'b', 'c'] as const)));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    const drawn = Array.from({ length: 200 }, () => between(r, 10, 20));
    expect(drawn.every((v) => v >= 10 && v <= 20)).toBe(true);
  });

  it('draws hex ids and UUID-shaped ids one digit a draw, the same for the same seed', () => {
    const a = createRandom(5);
    const id = hexId(a, 24);
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(hexId(createRandom(5), 24)).toBe(id);
    const uuid = seededUuid(createRandom(5));
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    const digits = hexId(createRandom(5), 32);
    expect(uuid.startsWith(digits.slice(0, 8))).toBe(true);
    const afterUuid = createRandom(5);
    seededUuid(afterUuid);
    const afterHex = createRandom(5);
    hexId(afterHex, 32);
    expect(afterUuid()).toBe(afterHex());
  });
});
