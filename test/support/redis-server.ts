import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's redis-server package puts the server. */
export const REDIS_SERVER = '/usr/bin/redis-server';

/** The server binary, or why there is none. */
export type RedisCheck = { executable: string } | { unavailable: string };

let checked: RedisCheck | undefined;

/**
 * Makes sure Debian's `redis-server` (Redis 7.0 on Debian 12) is installed for the cluster
 * tests: when it is missing and this process is root on a system with apt-get (a CI container),
 * it runs `apt-get update && apt-get install -y redis-server` (the package's own service is not
 * used: each test starts its own server). Otherwise it says why there is none; the tests then
 * fail under `CI=true` and are skipped with that reason elsewhere.
 */
export function ensureRedis(): RedisCheck {
  checked ??= findOrInstall();
  return checked;
}

function findOrInstall(): RedisCheck {
  const onPath = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (onPath !== '') return { executable: onPath };
  if (existsSync(REDIS_SERVER)) return { executable: REDIS_SERVER };
  if (process.platform !== 'linux') return { unavailable: `redis-server is missing and this is not Linux (${process.platform}): install Redis 7 to run the cluster tests` };
  if (process.getuid?.() !== 0) return { unavailable: 'redis-server is missing and installing it needs root: run `apt-get install -y redis-server`' };
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return { unavailable: 'redis-server is missing and there is no apt-get to install it with' };
  const install = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y --no-install-recommends redis-server'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (existsSync(REDIS_SERVER)) return { executable: REDIS_SERVER };
  const why = install.error?.message ?? install.stderr.trim().split('\n').slice(-3).join(' ');
  return { unavailable: `redis-server is missing and \`apt-get install -y redis-server\` did not install it: ${why || `exit ${install.status}`}` };
}

/**
 * The redis-server for a test file, or a reason to skip it: under `CI=true` a missing server is
 * an error (thrown), never a skip.
 *
 * @example
 * const redis = redisForTests();
 * describe.skipIf(redis.skip !== undefined)('…', () => { … });
 */
export function redisForTests(): { executable: string; skip?: undefined } | { executable?: undefined; skip: string } {
  const check = ensureRedis();
  if ('executable' in check) return { executable: check.executable };
  if (process.env.CI === 'true') throw new Error(`the cluster tests need redis-server: ${check.unavailable}`);
  return { skip: check.unavailable };
}

/** Options of {@link startRedis}. */
export interface RedisServerOptions {
  /**
   * `always`: every write is fsynced before Redis answers (an acknowledged write survives a crash
   * of Redis); `everysec`: up to a second can be lost; `no`: no append-only file at all.
   * @default 'always'
   */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Reuse this port (to restart a server where clients expect it). @default a free port */
  port?: number;
  /** Reuse this directory (its data survives a restart). @default a new temporary directory */
  dir?: string;
}

/** A redis-server process of a test, on 127.0.0.1. */
export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly child: ChildProcess;
  /** Stops it (SHUTDOWN-like: SIGTERM, data saved) and waits for the exit. */
  stop(): Promise<void>;
  /** Kills it with SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Starts a new server on the same port and directory (after stop or kill). */
  restart(): Promise<RunningRedis>;
  /** Stops it if running and removes its directory (when the directory was made here). */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kills every redis-server started by this process; for `afterAll`. */
export async function killAllRedis(): Promise<void> {
  const all = [...running];
  for (const child of all) child.kill('SIGKILL');
  await Promise.all(all.map((child) => exited(child)));
}

/**
 * Starts a redis-server on a free loopback port with its own directory (append-only file on,
 * with the given fsync policy; no RDB snapshots), and resolves once it accepts connections.
 *
 * @example
 * const redis = await startRedis({ appendfsync: 'always' });
 * const engine = await createEngine({ providers, cluster: await redisCluster({ url: redis.url }) });
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RunningRedis> {
  const check = ensureRedis();
  if ('unavailable' in check) throw new Error(check.unavailable);
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'jobstream-redis-')));
  const port = options.port ?? (await freePort());
  const appendfsync = options.appendfsync ?? 'always';
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', appendfsync === 'no' ? 'no' : 'yes',
    ...(appendfsync === 'no' ? [] : ['--appendfsync', appendfsync]),
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--loglevel', 'warning',
    '--logfile', '',
  ];
  const child = spawn(check.executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const gone = exited(child).then(() => running.delete(child));
  await waitForPort(port, child, () => output);
  const url = `redis://127.0.0.1:${port}`;
  const server: RunningRedis = {
    port,
    url,
    dir,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await gone;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone;
    },
    restart: () => startRedis({ appendfsync, port, dir }),
    async close() {
      await server.kill();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A port that was free a moment ago (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port; rejects when the process exits first. */
async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited before it listened on ${port}: ${output().trim()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within 15 s: ${output().trim()}`);
    // A process that is starting announces readiness only by listening: ask it again shortly.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
