import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../src/streams/min-heap.js';
import { seededRandom } from '../support/seeded-random.js';

interface Item {
  name: string;
  key: number;
  heapIndex: number;
}

const item = (name: string, key: number): Item => ({ name, key, heapIndex: -1 });
const heap = () => new MinHeap<Item>((a, b) => a.key < b.key);
const drain = (h: MinHeap<Item>): string[] => {
  const out: string[] = [];
  for (let next = h.pop(); next !== undefined; next = h.pop()) out.push(next.name);
  return out;
};

describe('MinHeap', () => {
  it('gives items back smallest key first, whatever order they went in', () => {
    const h = heap();
    for (const [name, key] of [['e', 5], ['a', 1], ['d', 4], ['b', 2], ['f', 6], ['c', 3]] as const) h.push(item(name, key));
    expect(h.size).toBe(6);
    expect(h.peek()?.name).toBe('a');
    expect(drain(h)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(h.size).toBe(0);
    expect(h.peek()).toBeUndefined();
    expect(h.pop()).toBeUndefined();
  });

  it('keeps each item told where it sits, and -1 once it is out', () => {
    const h = heap();
    const items = [item('a', 3), item('b', 1), item('c', 2)];
    for (const i of items) h.push(i);
    for (const i of items) expect(i.heapIndex).toBeGreaterThanOrEqual(0);
    expect(new Set(items.map((i) => i.heapIndex))).toEqual(new Set([0, 1, 2]));
    expect(items[1]?.heapIndex).toBe(0);
    const popped = h.pop();
    expect(popped?.heapIndex).toBe(-1);
  });

  it('removes an item from the middle and keeps the order of the rest', () => {
    const h = heap();
    const items = 'abcdefghij'.split('').map((name, i) => item(name, i));
    for (const i of [...items].reverse()) h.push(i);
    h.remove(items[4] as Item);
    h.remove(items[0] as Item);
    h.remove(items[9] as Item);
    expect(items[4]?.heapIndex).toBe(-1);
    expect(h.size).toBe(7);
    expect(drain(h)).toEqual(['b', 'c', 'd', 'f', 'g', 'h', 'i']);
  });

  it('ignores removing an item that is not in it (already out, or in another heap)', () => {
    const h = heap();
    const other = heap();
    const a = item('a', 1);
    const b = item('b', 2);
    h.push(a);
    other.push(b); // b.heapIndex is 0, but h's slot 0 holds a
    h.remove(b);
    h.pop();
    h.remove(a);
    expect(h.size).toBe(0);
    expect(other.size).toBe(1);
    expect(b.heapIndex).toBe(0);
  });

  it('re-sorts an item whose key went down or up', () => {
    const h = heap();
    const items = [item('a', 10), item('b', 20), item('c', 30), item('d', 40)];
    for (const i of items) h.push(i);
    const d = items[3] as Item;
    d.key = 5;
    h.update(d);
    expect(h.peek()?.name).toBe('d');
    d.key = 25;
    h.update(d);
    expect(drain(h)).toEqual(['a', 'b', 'd', 'c']);
  });

  it('does nothing when asked to update an item that is not in it', () => {
    const h = heap();
    h.push(item('a', 1));
    const stray = item('z', 0);
    h.update(stray);
    expect(h.size).toBe(1);
    expect(stray.heapIndex).toBe(-1);
    expect(h.peek()?.name).toBe('a');
  });

  it('agrees with a sorted array over a long mix of pushes, pops, removes and updates', () => {
    const random = seededRandom(0x9e3779b9);
    const h = heap();
    const inside = new Set<Item>();
    for (let step = 0; step < 2000; step++) {
      const roll = random();
      if (roll < 0.45 || inside.size === 0) {
        const i = item(`i${step}`, Math.floor(random() * 500));
        h.push(i);
        inside.add(i);
      } else if (roll < 0.65) {
        const min = Math.min(...[...inside].map((i) => i.key));
        const popped = h.pop() as Item;
        expect(popped.key).toBe(min);
        inside.delete(popped);
      } else if (roll < 0.8) {
        const victim = [...inside][Math.floor(random() * inside.size)] as Item;
        h.remove(victim);
        inside.delete(victim);
      } else {
        const changed = [...inside][Math.floor(random() * inside.size)] as Item;
        changed.key = Math.floor(random() * 500);
        h.update(changed);
      }
      expect(h.size).toBe(inside.size);
    }
    const expected = [...inside].map((i) => i.key).sort((a, b) => a - b);
    const keys: number[] = [];
    for (let next = h.pop(); next !== undefined; next = h.pop()) keys.push(next.key);
    expect(keys).toEqual(expected);
  });
});
