import { describe, expect, it } from 'vitest';
import { ChangeLog } from '../../src/streams/change-log.js';
import type { JobChange } from '../../src/streams/job-change.js';

describe('ChangeLog', () => {
  const change = (seq: number) => ({ epoch: 'e', seq, previousStatus: null, job: {} as never });
  /** A change of job `id`; only `job.id` matters to the log. */
  const changeOf = (seq: number, id: string): JobChange => ({ epoch: 'e', seq, previousStatus: null, job: { id } as never });

  it('returns exactly the missed changes while they are kept', () => {
    const log = new ChangeLog(3);
    for (let seq = 1; seq <= 5; seq++) log.push(change(seq));
    expect(log.since(2)?.map((c) => c.seq)).toEqual([3, 4, 5]);
    expect(log.since(5)).toEqual([]);
    expect(log.since(1)).toBeUndefined();
    expect(log.since(6)).toBeUndefined();
  });
  it('copies its kept changes oldest first, a copy that stays as it is while the ring moves on', () => {
    const log = new ChangeLog(3);
    for (let seq = 1; seq <= 5; seq++) log.push(change(seq));
    const copy = log.snapshot();
    expect(copy.map((c) => c.seq)).toEqual([3, 4, 5]);
    log.push(change(6));
    expect(copy.map((c) => c.seq)).toEqual([3, 4, 5]);
    expect(new ChangeLog(2).snapshot()).toEqual([]);
  });

  it('refuses a seq that does not follow', () => {
    const log = new ChangeLog(3);
    log.push(change(1));
    expect(() => log.push(change(3))).toThrow('change seq 3 does not follow 1');
  });

  it('starts empty at seq 0: everything since 0 is nothing, anything later is the future', () => {
    const log = new ChangeLog(4);
    expect(log.lastSeq).toBe(0);
    expect(log.since(0)).toEqual([]);
    expect(log.since(1)).toBeUndefined();
    expect(log.forJob('a')).toEqual([]);
  });

  it('keeps everything until the ring is full, then exactly the last `capacity` changes', () => {
    const log = new ChangeLog(4);
    for (let seq = 1; seq <= 4; seq++) log.push(change(seq));
    expect(log.since(0)?.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    log.push(change(5));
    expect(log.lastSeq).toBe(5);
    // Seq 1 was overwritten: a subscriber at 0 missed it and must start from a snapshot.
    expect(log.since(0)).toBeUndefined();
    expect(log.since(1)?.map((c) => c.seq)).toEqual([2, 3, 4, 5]);
    for (let seq = 6; seq <= 13; seq++) log.push(change(seq));
    expect(log.since(8)).toBeUndefined();
    expect(log.since(9)?.map((c) => c.seq)).toEqual([10, 11, 12, 13]);
  });

  it('keeps one change with capacity 1', () => {
    const log = new ChangeLog(1);
    log.push(change(1));
    log.push(change(2));
    expect(log.since(1)?.map((c) => c.seq)).toEqual([2]);
    expect(log.since(0)).toBeUndefined();
  });

  it('answers undefined for a seq that is not a whole number', () => {
    const log = new ChangeLog(3);
    log.push(change(1));
    log.push(change(2));
    expect(log.since(0.5)).toBeUndefined();
    expect(log.since(Number.NaN)).toBeUndefined();
  });

  it('lists the kept changes of one job, oldest first, and forgets the overwritten ones', () => {
    const log = new ChangeLog(4);
    const jobs = ['a', 'b', 'a', 'c', 'a', 'b'];
    jobs.forEach((id, i) => log.push(changeOf(i + 1, id)));
    // Kept: seqs 3..6.
    expect(log.forJob('a').map((c) => c.seq)).toEqual([3, 5]);
    expect(log.forJob('b').map((c) => c.seq)).toEqual([6]);
    expect(log.forJob('c').map((c) => c.seq)).toEqual([4]);
    expect(log.forJob('nobody')).toEqual([]);
  });

  it('continues a reopened log after its last seq: serves a reader at exactly that seq, not one further back', () => {
    const log = new ChangeLog(4);
    log.continueAfter(41);
    expect(log.lastSeq).toBe(41);
    expect(log.since(41)).toEqual([]);
    expect(log.since(40)).toBeUndefined();
    expect(() => log.push(change(1))).toThrow(/does not follow 41/);
    log.push(change(42));
    log.push(change(43));
    expect(log.since(41)?.map((c) => c.seq)).toEqual([42, 43]);
    expect(log.since(40)).toBeUndefined();
    expect(() => log.continueAfter(50)).toThrow();
  });

  it.each([0, -1, 2.5, Number.NaN])('refuses capacity %s', (capacity) => {
    expect(() => new ChangeLog(capacity)).toThrow(RangeError);
  });
});
