import { describe, expect, it } from 'vitest';
import { ChangeLog } from '../../src/streams/change-log.js';

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
