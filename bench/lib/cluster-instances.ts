import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startRedis, type RunningRedis } from '../../test/support/redis-server.js';
import { BenchChild } from './child.js';
import type { MemberInfo, MemberSetup } from './cluster-member.js';

/** A jobstream server in a child process of its own (see `cluster-member.ts`). */
export interface Instance {
  readonly child: BenchChild;
  readonly info: MemberInfo;
}

const MEMBER = new URL('./cluster-member.ts', import.meta.url);

/**
 * Starts one instance per setup, all at once (process start-up is most of the wait), and
 * resolves once every one listens. On a failure the ones that started are stopped.
 *
 * @example
 * const [a, b] = await startInstances([{ mode: 'cluster', redisUrl, provider: { type: 'fake' } }, …]);
 */
export async function startInstances(setups: readonly MemberSetup[], options: { fds?: number } = {}): Promise<Instance[]> {
  const started = await Promise.allSettled(setups.map((setup) => startInstance(setup, options)));
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await stopInstances(ok);
    throw failed.reason;
  }
  return ok;
}

/** Starts one instance and waits until it listens. */
export async function startInstance(setup: MemberSetup, options: { fds?: number } = {}): Promise<Instance> {
  const child = await BenchChild.start(MEMBER, options.fds === undefined ? {} : { fds: options.fds });
  try {
    return { child, info: await child.call<MemberInfo>('start', setup, 120_000) };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * Starts the benchmark's Redis (`appendfsync always`, see `startRedis`) and makes sure it dies
 * with this process, also when the benchmark crashes (the instances exit on their own when
 * their parent goes; a redis-server would not).
 */
export async function startBenchRedis(): Promise<RunningRedis> {
  const redis = await startRedis({ appendfsync: 'always' });
  const kill = (): void => {
    redis.child.kill('SIGKILL');
  };
  process.once('exit', kill);
  redis.child.once('exit', () => process.off('exit', kill));
  return redis;
}

/** Closes every instance still running (a killed one is only waited for). */
export async function stopInstances(instances: readonly Instance[]): Promise<void> {
  await Promise.all(
    instances.map(async ({ child }) => {
      await child.call('close', {}, 30_000).catch(() => undefined);
      await child.stop();
    }),
  );
}

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat; NaN where unreadable. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Kernel clock ticks per second (USER_HZ), for /proc times. */
const CLOCK_TICKS = (() => {
  const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** `redis-server --version`'s version, e.g. `7.0.15`, or `unknown`. */
export function redisServerVersion(executable = 'redis-server'): string {
  const out = spawnSync(executable, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /v=(\S+)/.exec(out)?.[1] ?? 'unknown';
}
