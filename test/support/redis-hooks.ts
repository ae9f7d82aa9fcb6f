import { afterAll, afterEach, beforeAll } from 'vitest';
import { killAllRedis, startRedis, type RedisServerOptions, type RunningRedis } from './redis-server.js';

/**
 * Registers the hooks of a describe block whose tests share one redis-server: the server starts
 * before its tests, what a test pushed onto `closeAfterEach` (engines, logs) is closed after it,
 * and the server (and any left over) is killed at the end. Read `server` inside tests.
 */
export function sharedRedisHooks(options: Pick<RedisServerOptions, 'appendfsync'>): { readonly server: RunningRedis; readonly closeAfterEach: Array<{ close(): Promise<void> }> } {
  let server: RunningRedis | undefined;
  const closeAfterEach: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    server = await startRedis(options);
  });
  afterEach(async () => {
    await Promise.all(closeAfterEach.splice(0).map((each) => each.close()));
  });
  afterAll(async () => {
    await server?.close();
    await killAllRedis();
  });
  return {
    get server(): RunningRedis {
      if (server === undefined) throw new Error('redis-server has not started (read `server` inside a test)');
      return server;
    },
    closeAfterEach,
  };
}
