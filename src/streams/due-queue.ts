/** An item a {@link DueQueue} can hold: the queue marks it with the number of its current place. */
export interface DueItem {
  /** 0 while the item is not queued; set by the queue. */
  dueSeq: number;
}

/** One tick's items, in the order they were queued; `seqs` tells live places from stale ones. */
interface Bucket<T> {
  readonly tick: number;
  readonly items: T[];
  readonly seqs: number[];
  head: number;
}

/**
 * A timer wheel for due times: items wait in one bucket per tick (`tickMs`), and come out tick by
 * tick, in the order they were queued within a tick. A tick's items are due at its start, so an
 * item comes out up to one tick before its exact due time, never after it. Queueing an item is
 * O(1) (an append), taking the next one is O(1) (the bucket's head), and only the ticks
 * themselves, a few hundred for a cadence of seconds, are kept in order (a small heap of
 * numbers). A binary heap of jobs paid O(log n) on scattered objects for every poll.
 *
 * Removal is lazy: a removed or moved item leaves a stale place behind, which is skipped (by its
 * sequence number) when its tick comes.
 *
 * @example
 * const queue = new DueQueue<Job>(20);
 * queue.push(job, Date.now() + 5000);
 * if (queue.nextAt() <= Date.now()) poll(queue.pop());
 */
export class DueQueue<T extends DueItem> {
  readonly #tickMs: number;
  readonly #buckets = new Map<number, Bucket<T>>();
  /** The ticks that have a bucket, as a binary min-heap. */
  readonly #ticks: number[] = [];
  #seq = 0;
  #size = 0;
  /** The earliest tick's bucket as last found (a hint: checked before use). */
  #head: Bucket<T> | undefined;

  /** @param tickMs the width of a tick: due times are rounded down to a multiple of it. */
  constructor(tickMs: number) {
    if (!(tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${tickMs}`);
    this.#tickMs = tickMs;
  }

  /** Number of items queued. */
  get size(): number {
    return this.#size;
  }

  /** Whether `item` is queued. */
  has(item: T): boolean {
    return item.dueSeq !== 0;
  }

  /** Queues `item` to come out at `dueAt`, rounded down to the tick; an item already queued moves. */
  push(item: T, dueAt: number): void {
    if (item.dueSeq !== 0) this.remove(item);
    const tick = Math.floor(dueAt / this.#tickMs);
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) {
      bucket = { tick, items: [], seqs: [], head: 0 };
      this.#buckets.set(tick, bucket);
      this.#pushTick(tick);
      // An earlier tick than the cached head's: the hint no longer points at the earliest bucket.
      if (this.#ticks[0] === tick) this.#head = undefined;
    }
    const seq = ++this.#seq;
    item.dueSeq = seq;
    bucket.items.push(item);
    bucket.seqs.push(seq);
    this.#size += 1;
  }

  /** Takes `item` out; does nothing when it is not queued. */
  remove(item: T): void {
    if (item.dueSeq === 0) return;
    item.dueSeq = 0;
    this.#size -= 1;
  }

  /** The item that comes out next, without taking it. */
  peek(): T | undefined {
    const bucket = this.#first();
    return bucket === undefined ? undefined : bucket.items[bucket.head];
  }

  /** When the next item is due (its tick's time), or `Infinity` when the queue is empty. */
  nextAt(): number {
    const bucket = this.#first();
    return bucket === undefined ? Infinity : bucket.tick * this.#tickMs;
  }

  /** Takes the next item out. */
  pop(): T | undefined {
    const bucket = this.#first();
    if (bucket === undefined) return undefined;
    const item = bucket.items[bucket.head] as T;
    bucket.head += 1;
    item.dueSeq = 0;
    this.#size -= 1;
    return item;
  }

  /** The earliest bucket with a live item at its head, dropping stale places and spent buckets. */
  #first(): Bucket<T> | undefined {
    const cached = this.#head;
    // The common case, a run of polls from one tick: the cached bucket's head is live.
    if (cached !== undefined && cached.head < cached.items.length && (cached.items[cached.head] as T).dueSeq === cached.seqs[cached.head]) return cached;
    const ticks = this.#ticks;
    while (ticks.length > 0) {
      const tick = ticks[0] as number;
      const bucket = this.#buckets.get(tick) as Bucket<T>;
      const { items, seqs } = bucket;
      let head = bucket.head;
      while (head < items.length && (items[head] as T).dueSeq !== seqs[head]) head += 1;
      bucket.head = head;
      if (head < items.length) {
        this.#head = bucket;
        return bucket;
      }
      this.#buckets.delete(tick);
      this.#popTick();
    }
    this.#head = undefined;
    return undefined;
  }

  #pushTick(tick: number): void {
    const ticks = this.#ticks;
    let index = ticks.length;
    ticks.push(tick);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = ticks[parent] as number;
      if (above <= tick) break;
      ticks[index] = above;
      index = parent;
    }
    ticks[index] = tick;
  }

  #popTick(): void {
    const ticks = this.#ticks;
    const last = ticks.pop() as number;
    const length = ticks.length;
    if (length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && (ticks[right] as number) < (ticks[left] as number) ? right : left;
      if ((ticks[child] as number) >= last) break;
      ticks[index] = ticks[child] as number;
      index = child;
    }
    ticks[index] = last;
  }
}
