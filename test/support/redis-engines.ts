import { afterAll, afterEach, beforeAll } from 'vitest';
import { killAllRedis, startRedis, type RunningRedis } from './redis-server.js';

/**
 * Registers the hooks of a describe block whose engines share one redis-server: the server
 * starts before its tests (`appendfsync no`), the engines a test pushed onto `engines` close
 * after it, and the server (and any left over) is killed at the end. `server` is read inside tests.
 */
export function redisEngineHooks(): { readonly server: RunningRedis; readonly engines: Array<{ close(): Promise<void> }> } {
  let server: RunningRedis | undefined;
  const engines: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    server = await startRedis({ appendfsync: 'no' });
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
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
    engines,
  };
}
