import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/streams/job-status.js';
import { WsTestClient } from '../support/ws-test-client.js';

const cli = join(import.meta.dirname, '../../src/cli.ts');
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'jobstream-demo-'));
});
/** Every demo started, so a test that fails halfway leaves none running. */
const started = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

interface RunningDemo {
  child: ChildProcess;
  lines: string[];
  url: string;
  token: string;
  restored: number;
}

/** Starts `jobstream demo` and resolves once it printed its banner. */
function startDemo(args: string[]): Promise<RunningDemo> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'demo', '--port', '0', '--data', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      // The banner's last line: everything needed has been printed above it.
      if (!line.startsWith('A sample job starts every')) return;
      const banner = lines.join('\n');
      const dashboard = /dashboard:\s+(http:\/\/[^/\s]+)\/\?token=(\S+)/.exec(banner);
      if (dashboard === null) return reject(new Error(`no dashboard line in:\n${banner}`));
      const restored = Number(/\((\d+) jobs from an earlier run\)/.exec(banner)?.[1] ?? 0);
      resolve({ child, lines, url: dashboard[1]!, token: dashboard[2]!, restored });
    });
    child.once('exit', (code) => reject(new Error(`demo exited (${code}) before it started: ${stderr}`)));
  });
}

async function stop(demo: RunningDemo): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => demo.child.once('exit', resolve));
  demo.child.kill('SIGINT');
  return exited;
}

describe('jobstream demo (npm start)', () => {
  it('runs jobs of every provider to terminal states, stops cleanly on Ctrl-C, and resumes', async () => {
    const first = await startDemo(['--speed', '20', '--every', '40', '--faults', 'none', '--quiet']);
    // What a person needs for the command line: the export lines and sample audio that exists.
    expect(first.lines).toContain(`  export JOBSTREAM_URL=${first.url}`);
    expect(first.lines).toContain(`  export JOBSTREAM_TOKEN=${first.token}`);
    const samples = /^ {2}samples: +(\S+), (\S+), (\S+) /.exec(first.lines.find((line) => line.startsWith('  samples:')) ?? '');
    expect(samples?.slice(1)).toEqual(['riff.wav', 'song.wav', 'interview.wav'].map((name) => join(dataDir, 'samples', name)));
    for (const file of samples!.slice(1)) expect((await stat(file)).size).toBeGreaterThan(44);
    // The client commands find the demo through its data directory, with no token given.
    const found = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'jobs', '--data', dataDir, '--limit', '1'], {
      env: { ...process.env, JOBSTREAM_TOKEN: '', JOBSTREAM_URL: '' },
    });
    expect(found.stdout).toMatch(/^ID +PROVIDER\/KIND/);
    const client = await WsTestClient.connect(`${first.url.replace('http', 'ws')}/v1/stream`, first.token);
    client.send({ type: 'subscribe', sub: 'all' });
    const providersDone = new Set<string>();
    await client.next(
      'change',
      (m) => {
        for (const c of m.changes) if (isTerminal(c.job.status)) providersDone.add(c.job.provider);
        return providersDone.size === 4;
      },
      // Events, not time: the bound only decides how long a broken demo takes to fail.
      90_000,
    );
    expect([...providersDone].sort()).toEqual(['cambai', 'klangio', 'musicai', 'sunoapi']);
    await client.close();
    expect(await stop(first)).toBe(0);
    expect(first.lines.some((line) => line.startsWith('stopped. Run it again'))).toBe(true);

    // Again on the same data: earlier jobs come back and unfinished ones finish (the simulators
    // kept their jobs too), none of them lost at the provider.
    const second = await startDemo(['--speed', '20', '--every', '100000', '--faults', 'none', '--quiet']);
    expect(second.restored).toBeGreaterThan(0);
    const api = (path: string) => fetch(`${second.url}${path}`, { headers: { authorization: `Bearer ${second.token}` } });
    const watcher = await WsTestClient.connect(`${second.url.replace('http', 'ws')}/v1/stream`, second.token);
    watcher.send({ type: 'subscribe', sub: 'open', filter: { statuses: ['queued', 'running'] } });
    const snapshot = await watcher.next('snapshot');
    const open = new Set(snapshot.jobs.map((j) => j.id));
    if (open.size > 0) {
      await watcher.next(
        'change',
        (m) => {
          for (const c of m.changes) if (isTerminal(c.job.status)) open.delete(c.job.id);
          return open.size === 0;
        },
        30_000,
      );
    }
    const { jobs } = (await (await api('/v1/jobs?limit=1000')).json()) as { jobs: { error: { code: string } | null }[] };
    expect(jobs.length).toBeGreaterThanOrEqual(second.restored);
    expect(jobs.filter((j) => j.error?.code === 'PROVIDER_REJECTED')).toEqual([]);
    await watcher.close();
    expect(await stop(second)).toBe(0);
  }, 180_000);
});
