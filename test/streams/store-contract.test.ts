import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisSharedLog } from '../../src/cluster/redis-shared-log.js';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore, type JournalFile } from '../../src/streams/file-store.js';
import { PollScheduler } from '../../src/streams/poll-scheduler.js';
import { killAllRedis, redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';
import { describeStoreContract, type StoreUnderTest } from './store-contract.js';

/**
 * The embedded store: a FileStore in a temporary directory. "Cannot write" is a full disk: while
 * `full`, every journal write fails with ENOSPC, as on the full tmpfs of test/server/full-disk.test.ts
 * (which needs root; this seam does not).
 */
/** A data directory as a `kill -9` of its engine would leave it now: a copy of what is on disk. */
async function crashCopyOf(dir: string): Promise<StoreUnderTest> {
  const copy = await mkdtemp(join(tmpdir(), 'jobstream-store-crashed-'));
  await cp(dir, copy, { recursive: true, filter: (source) => !source.endsWith('/LOCK') });
  return {
    open: async (options) => createEngine({ ...options, store: await FileStore.open({ dir: copy }) }),
    break: () => Promise.reject(new Error('not needed')),
    repair: () => Promise.resolve(),
    afterCrash: () => crashCopyOf(copy),
    dispose: () => rm(copy, { recursive: true, force: true }),
  };
}

describeStoreContract({
  name: 'the embedded store (FileStore in a data directory)',
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'jobstream-store-contract-'));
    const disk = { full: false };
    const openJournal = async (path: string): Promise<JournalFile> => {
      const handle = await open(path, 'a', 0o600);
      return {
        write: (buffer, offset, length) => {
          if (disk.full) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
          return handle.write(buffer, offset, length);
        },
        datasync: () => handle.datasync(),
        truncate: (length) => handle.truncate(length),
        stat: () => handle.stat(),
        close: () => handle.close(),
      };
    };
    return {
      open: async (options) => createEngine({ ...options, store: await FileStore.open({ dir, openJournal }) }),
      break: () => {
        disk.full = true;
        return Promise.resolve();
      },
      repair: () => {
        disk.full = false;
        return Promise.resolve();
      },
      afterCrash: () => crashCopyOf(dir),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

/**
 * The cluster store: the Redis shared log on a real redis-server (appendfsync always), one key
 * prefix per test. The poll schedule stays local (`PollScheduler`), so virtual time still drives
 * the polls. "Cannot write" is Redis killed (SIGKILL); repairing starts it again on the same
 * port and directory, where the append-only file kept every acknowledged change.
 */
const redisCheck = redisForTests();
let redis: RunningRedis | undefined;
describeStoreContract({
  name: 'the cluster store (Redis shared log)',
  skip: redisCheck.skip,
  beforeAll: async () => {
    redis = await startRedis({ appendfsync: 'always' });
  },
  afterAll: async () => {
    await redis?.close();
    await killAllRedis();
  },
  create() {
    const prefix = `contract:${randomUUID()}:`;
    const subject: StoreUnderTest = {
      open: async (options) => {
        const log = await RedisSharedLog.open({ url: redis!.url, prefix });
        return createEngine({ ...options, cluster: { log, pollSchedule: (o) => new PollScheduler(o), close: () => log.close() } });
      },
      break: async () => {
        await redis!.kill();
      },
      repair: async () => {
        redis = await redis!.restart();
      },
      // Redis keeps what it acknowledged, whatever happens to the engines.
      afterCrash: () => Promise.resolve(subject),
      dispose: () => Promise.resolve(),
    };
    return Promise.resolve(subject);
  },
});
