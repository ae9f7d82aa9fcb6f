import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../src/streams/due-queue.js';
import { MinHeap } from '../../src/streams/min-heap.js';
import { seededRandom } from '../support/seeded-random.js';

interface Item {
  name: string;
  dueSeq: number;
}

const item = (name: string): Item => ({ name, dueSeq: 0 });
const drain = (queue: DueQueue<Item>): string[] => {
  const out: string[] = [];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) out.push(next.name);
  return out;
};

describe('DueQueue', () => {
  it('gives items back tick by tick, in the order they were queued within a tick', () => {
    const queue = new DueQueue<Item>(10);
    queue.push(item('late'), 35);
    queue.push(item('b'), 12);
    queue.push(item('a'), 11); // same tick as b (10), queued after it
    queue.push(item('first'), 9);
    expect(queue.size).toBe(4);
    expect(drain(queue)).toEqual(['first', 'b', 'a', 'late']);
    expect(queue.size).toBe(0);
  });

  it("rounds due times down to the start of their tick", () => {
    const queue = new DueQueue<Item>(20);
    queue.push(item('a'), 39);
    expect(queue.nextAt()).toBe(20);
    queue.push(item('b'), 19);
    expect(queue.nextAt()).toBe(0);
    expect(queue.pop()?.name).toBe('b');
    expect(queue.nextAt()).toBe(20);
    queue.pop();
    expect(queue.nextAt()).toBe(Infinity);
    expect(queue.peek()).toBeUndefined();
  });

  it('skips removed items and moves an item queued again, so each comes out once', () => {
    const queue = new DueQueue<Item>(1);
    const a = item('a');
    const b = item('b');
    const c = item('c');
    queue.push(a, 1);
    queue.push(b, 2);
    queue.push(c, 3);
    queue.remove(b);
    queue.push(a, 5); // moved behind c
    queue.push(b, 1); // back, in a's old tick
    expect(queue.has(a)).toBe(true);
    expect(queue.size).toBe(3);
    expect(drain(queue)).toEqual(['b', 'c', 'a']);
    expect(queue.has(a)).toBe(false);
  });

  it('notices an earlier tick queued after the earliest one was looked at', () => {
    // peek() remembers the earliest bucket; an item due earlier must still come out first.
    const queue = new DueQueue<Item>(1);
    queue.push(item('later'), 50);
    expect(queue.peek()?.name).toBe('later');
    queue.push(item('sooner'), 10);
    expect(queue.nextAt()).toBe(10);
    expect(drain(queue)).toEqual(['sooner', 'later']);
  });

  it('keeps a removed item out even when it is queued again into the same tick', () => {
    const queue = new DueQueue<Item>(10);
    const a = item('a');
    queue.push(a, 5);
    queue.push(item('b'), 5);
    queue.remove(a);
    queue.push(a, 7); // same tick: its old place is stale, its new one is behind b
    expect(drain(queue)).toEqual(['b', 'a']);
  });

  it('agrees with a binary heap on due order over random pushes, moves, removals and pops', () => {
    // The heap, keyed by (tick, order queued), is the reference the poll scheduler used before.
    const random = seededRandom(0x5eed);
    const tickMs = 7;
    const queue = new DueQueue<Item & { key: number; order: number; heapIndex: number }>(tickMs);
    const heap = new MinHeap<Item & { key: number; order: number; heapIndex: number }>((a, b) => a.key < b.key || (a.key === b.key && a.order < b.order));
    const items = Array.from({ length: 200 }, (_, i) => ({ name: `i${i}`, dueSeq: 0, key: 0, order: 0, heapIndex: -1 }));
    let order = 0;
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      const it = items[Math.floor(random() * items.length)]!;
      const roll = random();
      if (roll < 0.5) {
        const dueAt = now + Math.floor(random() * 100);
        it.key = Math.floor(dueAt / tickMs);
        it.order = order++;
        heap.remove(it);
        heap.push(it);
        queue.push(it, dueAt);
      } else if (roll < 0.6) {
        heap.remove(it);
        queue.remove(it);
      } else {
        now += 1;
        expect(queue.size).toBe(heap.size);
        const expected = heap.peek();
        expect(queue.peek()).toBe(expected);
        expect(queue.nextAt()).toBe(expected === undefined ? Infinity : expected.key * tickMs);
        if (expected !== undefined && expected.key * tickMs <= now) expect(queue.pop()).toBe(heap.pop());
      }
    }
  });

  it('refuses a tick that is not positive', () => {
    expect(() => new DueQueue<Item>(0)).toThrow(RangeError);
  });
});
