import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, createRedisConnection } from '../../src/cluster/redis-connection.js';
import { RedisSharedLog, type RedisSharedLogOptions } from '../../src/cluster/redis-shared-log.js';
import { JobstreamError } from '../../src/streams/errors.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import type { JobStatus } from '../../src/streams/job-status.js';
import type { LoggedChange } from '../../src/streams/shared-log.js';
import { sharedRedisHooks } from '../support/redis-hooks.js';
import { redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';

const redis = redisForTests();

const SECRET = 'secret-secret-secret';

/** A job snapshot at `version`; numbers that JSON round trips in Lua would have rounded. */
function snapshot(id: string, version: number, status: JobStatus = 'queued'): JobSnapshot {
  return {
    id,
    provider: 'klangio',
    kind: 'transcription',
    externalId: null,
    name: `job ${id}`,
    metadata: { n: version },
    options: { model: 'guitar', nested: { ratio: 1 / 3 } },
    status,
    providerStatus: null,
    progress: version > 1 ? 1 / 3 : null,
    result: null,
    error: null,
    version,
    createdAt: 1_736_000_000_123,
    updatedAt: 1_736_000_000_123 + version,
    source: version === 1 ? 'submit' : 'poll',
    artifacts: null,
    after: null,
    providerData: null,
    finished: null,
    input: null,
    retryOf: null,
  };
}

function change(job: JobSnapshot, previousStatus: JobStatus | null = job.version === 1 ? null : 'queued') {
  return { job, secret: SECRET, previousStatus };
}

/** What a follower delivered, with a promise for "at least n changes" and one for the next error. */
function record(log: RedisSharedLog, afterSeq: number) {
  const seen: LoggedChange[] = [];
  const errors: unknown[] = [];
  let recovered = 0;
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const follower = log.follow(afterSeq, {
    onChange: (change) => {
      seen.push(change);
      wake();
    },
    onError: (error) => {
      errors.push(error);
      wake();
    },
    onRecovered: () => {
      recovered++;
      wake();
    },
  });
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => (done() ? resolve() : void waiters.push(check));
      check();
    });
  return {
    seen,
    errors,
    follower,
    seqs: () => seen.map((c) => c.seq),
    untilSeen: (n: number) => until(() => seen.length >= n),
    untilErrors: (n: number) => until(() => errors.length >= n),
    untilAnything: () => until(() => errors.length + seen.length > 0),
    untilRecovered: () => until(() => recovered > 0),
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function codeOf(error: unknown): string | undefined {
  return error instanceof JobstreamError ? error.code : undefined;
}

describe.skipIf(redis.skip !== undefined)('RedisSharedLog', () => {
  const redisServer = sharedRedisHooks({ appendfsync: 'everysec' });
  const opened = redisServer.closeAfterEach;
  let prefixes = 0;

  /** Opens a log; on the shared server each test gets a keyspace of its own (a prefix). */
  async function open(options: Partial<RedisSharedLogOptions> & { url?: string } = {}): Promise<RedisSharedLog> {
    const log = await RedisSharedLog.open({ url: redisServer.server.url, prefix: `test${prefixes}:`, ...options });
    opened.push(log);
    return log;
  }
  const fresh = (): string => `test${++prefixes}:`;

  it('commits a new job, refuses a stale version with what is stored, and answers a retried commit with its seq', async () => {
    const log = await open({ prefix: fresh() });
    const v1 = snapshot('job_a', 1);
    expect(await log.commit(change(v1), 0)).toEqual({ type: 'committed', seq: 1 });

    // Another engine creating the same job: a conflict that carries the stored version.
    const rival = { ...snapshot('job_a', 1), name: 'rival' };
    expect(await log.commit(change(rival), 0)).toEqual({ type: 'conflict', current: { job: v1, secret: SECRET, seq: 1, previousStatus: null } });

    // The first commit again (its answer was lost): the same seq, nothing appended.
    expect(await log.commit(change(v1), 0)).toEqual({ type: 'committed', seq: 1 });

    const v2 = snapshot('job_a', 2, 'running');
    expect(await log.commit(change(v2), 3)).toMatchObject({ type: 'conflict', current: { job: { version: 1 } } });
    expect(await log.commit(change(v2), 1)).toEqual({ type: 'committed', seq: 2 });
    expect(await log.commit(change(snapshot('job_b', 4)), 3)).toEqual({ type: 'conflict', current: undefined });

    const changes = await log.changesAfter(0);
    expect(changes).toEqual([
      { seq: 1, job: v1, secret: SECRET, previousStatus: null },
      { seq: 2, job: v2, secret: SECRET, previousStatus: 'queued' },
    ]);
    // 1/3 and 13-digit times come back exactly (the script never re-encodes the job).
    expect(changes?.[1]?.job.progress).toBe(1 / 3);
    expect(await log.load()).toEqual({ jobs: [{ seq: 2, job: v2, secret: SECRET, previousStatus: 'queued' }], seq: 2 });
  });

  it('makes two instances one log: a global seq, and every follower sees every change once, in one order', async () => {
    const prefix = fresh();
    const a = await open({ prefix });
    const b = await open({ prefix });
    expect(b.epoch).toBe(a.epoch);
    const onA = record(a, 0);
    const onB = record(b, 0);

    // Each instance creates 200 jobs of its own, and both bump one shared job 50 times each,
    // re-reading on every conflict (what an engine does), all at once.
    const committed: Array<{ seq: number; id: string; version: number }> = [];
    const create = (log: RedisSharedLog, name: string) =>
      Promise.all(
        range(1, 200).map(async (i) => {
          const job = snapshot(`job_${name}${i}`, 1);
          const outcome = await log.commit(change(job), 0);
          if (outcome.type !== 'committed') throw new Error(`unexpected ${outcome.type}`);
          committed.push({ seq: outcome.seq, id: job.id, version: 1 });
        }),
      );
    const seed = await a.commit(change(snapshot('job_shared', 1)), 0);
    if (seed.type === 'committed') committed.push({ seq: seed.seq, id: 'job_shared', version: 1 });
    let conflicts = 0;
    const bump = async (log: RedisSharedLog) => {
      let version = 1;
      for (let done = 0; done < 50; ) {
        // Each instance's version differs from the other's (as real ones do: time, source).
        const job = { ...snapshot('job_shared', version + 1, 'running'), name: log === a ? 'by a' : 'by b' };
        const outcome = await log.commit(change(job), version);
        if (outcome.type === 'committed') {
          committed.push({ seq: outcome.seq, id: 'job_shared', version: version + 1 });
          version++;
          done++;
        } else {
          conflicts++;
          version = outcome.current!.job.version;
        }
      }
    };
    await Promise.all([create(a, 'a'), create(b, 'b'), bump(a), bump(b)]);

    const total = 1 + 400 + 100;
    expect(committed).toHaveLength(total);
    expect(committed.map((c) => c.seq).sort((x, y) => x - y)).toEqual(range(1, total));
    expect(conflicts).toBeGreaterThan(0);
    await Promise.all([onA.untilSeen(total), onB.untilSeen(total)]);
    expect(onA.seqs()).toEqual(range(1, total));
    expect(onB.seen).toEqual(onA.seen);
    const bySeq = new Map(committed.map((c) => [c.seq, c]));
    for (const seen of onA.seen) expect({ id: seen.job.id, version: seen.job.version }).toEqual({ id: bySeq.get(seen.seq)?.id, version: bySeq.get(seen.seq)?.version });
    const shared = onA.seen.filter((c) => c.job.id === 'job_shared').map((c) => c.job.version);
    expect(shared).toEqual(range(1, 101));
    expect(onA.errors).toEqual([]);
    expect(onB.errors).toEqual([]);
  });

  it('serves the kept tail after a seq, and answers undefined once the change after it was trimmed', async () => {
    const log = await open({ prefix: fresh(), changeLogSize: 10 });
    for (let i = 1; i <= 250; i++) await log.commit(change(snapshot(`job_${i}`, 1)), 0);

    expect(await log.changesAfter(250)).toEqual([]);
    expect((await log.changesAfter(245))?.map((c) => c.seq)).toEqual(range(246, 250));
    expect((await log.changesAfter(240, 3))?.map((c) => c.seq)).toEqual([241, 242, 243]);
    expect(await log.changesAfter(0)).toBeUndefined();
    expect(await log.changesAfter(100)).toBeUndefined();
    // At least changeLogSize changes are kept (MAXLEN ~ trims whole blocks, so maybe more).
    expect((await log.changesAfter(240))?.map((c) => c.seq)).toEqual(range(241, 250));

    // A follower that needs a trimmed change says so and stops, rather than skip it.
    const behind = record(log, 0);
    await behind.untilAnything();
    expect(codeOf(behind.errors[0])).toBe('LOG_GAP');
    expect(behind.errors[0]).toMatchObject({ expectedSeq: 1 });
    expect(behind.seen).toEqual([]);
    await behind.follower.stop();
  });

  it('loads 2,000 jobs while another instance writes, and load + follow from its seq gives the final state', async () => {
    const prefix = fresh();
    const writer = await open({ prefix });
    const reader = await open({ prefix });
    const latest = new Map<string, JobSnapshot>();
    const ids = range(1, 2000).map((i) => `job_${i}`);
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(
        ids.slice(i, i + 200).map(async (id) => {
          const job = snapshot(id, 1);
          await writer.commit(change(job), 0);
          latest.set(id, job);
        }),
      );
    }
    // The writer moves jobs on (in order per job) while the reader loads.
    let lastSeq = 0;
    const writing = (async () => {
      for (let round = 0; round < 3; round++) {
        for (let i = round; i < ids.length; i += 7) {
          const id = ids[i]!;
          const job = snapshot(id, latest.get(id)!.version + 1, 'running');
          const outcome = await writer.commit(change(job), job.version - 1);
          if (outcome.type !== 'committed') throw new Error('the writer lost a race it has no rival in');
          latest.set(id, job);
          lastSeq = outcome.seq;
        }
      }
    })();
    const loaded = await reader.load();
    const state = new Map(loaded.jobs.map((stored) => [stored.job.id, stored.job]));
    const following = record(reader, loaded.seq);
    await writing;
    expect(loaded.seq).toBeLessThan(lastSeq);
    await following.untilSeen(lastSeq - loaded.seq);
    for (const seen of following.seen) {
      if (seen.job.version > (state.get(seen.job.id)?.version ?? 0)) state.set(seen.job.id, seen.job);
    }
    expect(state.size).toBe(2000);
    expect(new Map([...state].sort())).toEqual(new Map([...latest].sort()));
    expect(following.seqs()).toEqual(range(loaded.seq + 1, lastSeq));

    // The whole tail, read in pages: every change once, in order; and a limit across pages.
    expect((await reader.changesAfter(0))?.map((c) => c.seq)).toEqual(range(1, lastSeq));
    expect((await reader.changesAfter(100, 1500))?.map((c) => c.seq)).toEqual(range(101, 1600));
  });

  it('stops a follower whose handler throws, and reports what it threw', async () => {
    const log = await open({ prefix: fresh() });
    for (let i = 1; i <= 3; i++) await log.commit(change(snapshot(`job_${i}`, 1)), 0);
    const seen: number[] = [];
    const reported = new Promise<unknown>((resolve) => {
      log.follow(0, {
        onChange: (change) => {
          seen.push(change.seq);
          if (change.seq === 2) throw new Error('handler bug');
        },
        onError: resolve,
      });
    });
    expect(await reported).toMatchObject({ message: 'handler bug' });
    expect(seen).toEqual([1, 2]);
  });

  it('names a damaged record by its key and field instead of loading it', async () => {
    const prefix = fresh();
    const log = await open({ prefix });
    await log.commit(change(snapshot('job_ok', 1)), 0);
    const raw = await connectRedis(createRedisConnection({ url: redisServer.server.url }));
    try {
      await raw.hset(`${prefix}jobs`, 'job_bad', JSON.stringify({ seq: 2, previousStatus: null, secret: SECRET, job: { ...snapshot('job_bad', 1), version: 'one' } }));
      await expect(log.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringMatching(/test\d+:jobs, field "job_bad".*job\.version/) });
      await raw.hset(`${prefix}jobs`, 'job_bad', '{"seq":2,');
      await expect(log.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringContaining('not JSON') });
    } finally {
      raw.disconnect();
    }
  });

  it('writes nothing once the keyspace lost its epoch (Redis came back empty), and says why', async () => {
    const prefix = fresh();
    const log = await open({ prefix });
    await log.commit(change(snapshot('job_1', 1)), 0);
    const raw = await connectRedis(createRedisConnection({ url: redisServer.server.url }));
    try {
      await raw.del(`${prefix}epoch`, `${prefix}seq`, `${prefix}jobs`, `${prefix}versions`, `${prefix}log`);
      await expect(log.commit(change(snapshot('job_2', 1)), 0)).rejects.toMatchObject({ code: 'LOG_EPOCH_CHANGED' });
      expect(await raw.exists(`${prefix}seq`, `${prefix}jobs`, `${prefix}log`)).toBe(0);
      await expect(log.load()).rejects.toMatchObject({ code: 'LOG_EPOCH_CHANGED' });
    } finally {
      raw.disconnect();
    }
  });

  it('rejects invalid options and URLs without connecting', async () => {
    await expect(RedisSharedLog.open({ url: 'http://127.0.0.1:1' })).rejects.toMatchObject({ code: 'INVALID_REDIS_URL' });
    await expect(RedisSharedLog.open({ url: redisServer.server.url, changeLogSize: 0 })).rejects.toThrow(RangeError);
    const unreachable = await RedisSharedLog.open({ url: 'redis://:hunter2@127.0.0.1:1' }).catch((error: unknown) => error);
    expect(unreachable).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(String((unreachable as Error).message)).not.toContain('hunter2');
  });

  it('tells a follower and a writer when Redis came back empty (no persistence), rather than reuse seqs', async () => {
    const volatile = await startRedis({ appendfsync: 'no' });
    try {
      let back!: () => void;
      const isBack = new Promise<void>((resolve) => (back = resolve));
      const log = await RedisSharedLog.open({ url: volatile.url, onAvailabilityChange: (available) => available && back() });
      opened.push(log);
      await log.commit(change(snapshot('job_1', 1)), 0);
      const following = record(log, 0);
      await following.untilSeen(1);
      await volatile.kill();
      await following.untilErrors(1);
      const restarted = await volatile.restart();
      await following.untilErrors(2);
      expect(following.errors.map(codeOf)).toEqual(['STORE_UNAVAILABLE', 'LOG_EPOCH_CHANGED']);
      // The keyspace has no epoch until an instance opens it again: a new log, seq from 1.
      const reopened = await RedisSharedLog.open({ url: restarted.url });
      opened.push(reopened);
      expect(reopened.epoch).not.toBe(log.epoch);
      await isBack;
      await expect(log.commit(change(snapshot('job_2', 1)), 0)).rejects.toMatchObject({ code: 'LOG_EPOCH_CHANGED' });
    } finally {
      await volatile.close();
    }
  });

  describe('when Redis goes away', () => {
    let server: RunningRedis;
    beforeAll(async () => {
      server = await startRedis({ appendfsync: 'always' });
    });
    afterAll(async () => {
      await server?.close();
    });

    /** Resolves when the log next reports `available`. */
    function availability(): { log: Promise<RedisSharedLog>; next: (value: boolean) => Promise<void> } {
      const waiters: Array<{ value: boolean; resolve: () => void }> = [];
      const log = RedisSharedLog.open({
        url: server.url,
        commandTimeoutMs: 300,
        onAvailabilityChange: (value) => {
          for (const waiter of waiters.filter((w) => w.value === value)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        },
      }).then((opened_) => (opened.push(opened_), opened_));
      return { log, next: (value) => new Promise((resolve) => waiters.push({ value, resolve })) };
    }

    it('keeps the epoch minted once, and seq, across a restart (append-only file)', async () => {
      const first = await RedisSharedLog.open({ url: server.url });
      opened.push(first);
      const second = await RedisSharedLog.open({ url: server.url });
      opened.push(second);
      expect(second.epoch).toBe(first.epoch);
      for (let i = 1; i <= 3; i++) await first.commit(change(snapshot(`job_${i}`, 1)), 0);

      await server.kill();
      server = await server.restart();
      const after = await RedisSharedLog.open({ url: server.url });
      opened.push(after);
      expect(after.epoch).toBe(first.epoch);
      expect((await after.load()).seq).toBe(3);
      expect(await after.commit(change(snapshot('job_4', 1)), 0)).toEqual({ type: 'committed', seq: 4 });
    });

    it('rejects commits within 2 s while Redis is down, says unavailable, and recovers by itself with no gap and nothing acknowledged lost', async () => {
      const watch = availability();
      const log = await watch.log;
      const start = (await log.load()).seq;
      const following = record(log, start);

      // A writer that goes on committing new jobs, one after another, through the outage.
      const acknowledged: number[] = [];
      let writing = true;
      let n = 0;
      const writer = (async () => {
        while (writing) {
          const job = snapshot(`job_w${++n}`, 1);
          const outcome = await log.commit(change(job), 0).catch(() => undefined);
          if (outcome?.type === 'committed') acknowledged.push(outcome.seq);
          // A refusal comes at once: yield to I/O before trying again, as an engine backs off.
          else await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await following.untilSeen(20);
      const down = watch.next(false);
      await server.kill();
      await down;
      expect(log.available).toBe(false);
      const before = Date.now();
      await expect(log.commit(change(snapshot('job_down', 1)), 0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(Date.now() - before).toBeLessThan(2000);
      await following.untilErrors(1);
      expect(codeOf(following.errors[0])).toBe('STORE_UNAVAILABLE');

      const up = watch.next(true);
      server = await server.restart();
      await up;
      expect(log.available).toBe(true);
      await following.untilRecovered();
      const ackedBefore = acknowledged.length;
      await following.untilSeen(following.seen.length + 5);
      writing = false;
      await writer;
      expect(acknowledged.length).toBeGreaterThan(ackedBefore);

      const last = Math.max(...acknowledged);
      await following.untilSeen(last - start);
      expect(following.seqs()).toEqual(range(start + 1, last));
      expect(following.errors).toHaveLength(1);
      // Every acknowledged commit survived the kill -9 (appendfsync always).
      const { jobs, seq } = await log.load();
      expect(seq).toBe(last);
      const stored = new Set(jobs.map((j) => j.seq));
      for (const seq_ of acknowledged) expect(stored.has(seq_)).toBe(true);
    });

    it('rejects after the command timeout while Redis is stuck, and notices by itself when it answers again', async () => {
      const watch = availability();
      const log = await watch.log;
      const { seq } = await log.load();
      server.child.kill('SIGSTOP');
      const up = watch.next(true);
      try {
        const before = Date.now();
        await expect(log.commit(change(snapshot('job_stuck', 1)), 0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(Date.now() - before).toBeLessThan(1000);
        expect(log.available).toBe(false);
      } finally {
        server.child.kill('SIGCONT');
      }
      await up;
      // The timed-out commit may or may not have run: a retry settles it either way.
      expect(await log.commit(change(snapshot('job_stuck', 1)), 0)).toEqual({ type: 'committed', seq: seq + 1 });
    });
  });
});
