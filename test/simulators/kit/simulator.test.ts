import { describe, expect, it } from 'vitest';
import { resolveSimulatorOptions } from '../../../src/simulators/kit/simulator.js';

describe('resolveSimulatorOptions', () => {
  it('defaults to loopback, port 0, speed 1, a random hex key and no faults', () => {
    const a = resolveSimulatorOptions();
    const b = resolveSimulatorOptions();
    expect(a).toMatchObject({ host: '127.0.0.1', port: 0, speed: 1, allowRemoteWebhooks: false });
    expect(a.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(a.apiKey).not.toBe(b.apiKey);
    expect(a.faults().serverErrorRate).toBe(0);
  });

  it('seeds the random source and merges fault patches at run time', () => {
    const a = resolveSimulatorOptions({ seed: 4, faults: { webhook: { dropRate: 0.5 } } });
    const b = resolveSimulatorOptions({ seed: 4 });
    expect(a.random()).toBe(b.random());
    expect(a.faults().webhook.dropRate).toBe(0.5);
    a.setFaults({ serverErrorRate: 0.3 });
    expect(a.faults()).toMatchObject({ serverErrorRate: 0.3, webhook: { dropRate: 0.5 } });
    expect(() => a.setFaults({ serverErrorRate: 3 })).toThrow();
  });

  it('refuses a non-positive speed and a non-loopback host', () => {
    expect(() => resolveSimulatorOptions({ speed: 0 })).toThrow(RangeError);
    expect(() => resolveSimulatorOptions({ speed: Number.NaN })).toThrow(RangeError);
    expect(() => resolveSimulatorOptions({ host: '0.0.0.0' })).toThrow(RangeError);
    expect(resolveSimulatorOptions({ host: 'localhost' }).host).toBe('localhost');
  });
});
