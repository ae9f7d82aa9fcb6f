import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatorTimers } from '../../../src/simulators/kit/timers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('SimulatorTimers', () => {
  it('fires each timer once after its delay and forgets it', () => {
    vi.useFakeTimers();
    const timers = new SimulatorTimers();
    const fired: string[] = [];
    timers.schedule(() => fired.push('a'), 10);
    timers.schedule(() => fired.push('b'), 20);
    expect(timers.size).toBe(2);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['a']);
    expect(timers.size).toBe(1);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['a', 'b']);
    expect(timers.size).toBe(0);
  });

  it('cancels every pending timer on clear, idempotently', () => {
    vi.useFakeTimers();
    const timers = new SimulatorTimers();
    const fired: string[] = [];
    timers.schedule(() => fired.push('a'), 10);
    timers.schedule(() => timers.schedule(() => fired.push('late'), 5), 5);
    timers.clear();
    timers.clear();
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([]);
    expect(timers.size).toBe(0);
  });
});
