import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import type { FakeProvider } from '../support/fake-provider.js';

const cli = join(import.meta.dirname, '../../src/cli.ts');
let server: RunningServer;
let provider: FakeProvider;
let dir: string;

beforeAll(async () => {
  ({ server, provider } = await startTestServer());
  dir = await mkdtemp(join(tmpdir(), 'jobstream-cli-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `jobstream <args>` against the test server; resolves with its output and exit code. */
async function jobstream(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], {
      env: { ...process.env, JOBSTREAM_URL: server.url, JOBSTREAM_TOKEN: TOKEN, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jobstream client commands', () => {
  it('submits a file and follows it with --watch until it succeeds (exit 0)', async () => {
    const file = join(dir, 'riff.wav');
    await writeFile(file, Buffer.alloc(128, 1));
    // The fake provider finishes the job once the watcher is following it.
    const watched = jobstream(['submit', 'fake', 'transcription', file, '--name', 'riff', '--options', '{"model":"guitar"}', '--watch']);
    await expect.poll(() => provider.created.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => server.hub.stats.subscriptions, { timeout: 15_000 }).toBeGreaterThan(0);
    provider.set('ext-1', 'DONE', { result: 'ok' });
    const { code, stdout } = await watched;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^job_\w+ {2}fake\/transcription {2}queued$/m);
    expect(stdout).toMatch(/riff +succeeded/);
    expect(provider.created[0]?.input).toMatchObject({ type: 'file', filename: 'riff.wav' });
  }, 40_000);

  it('watch exits 1 when a watched job fails', async () => {
    const job = await server.engine.submit({ provider: 'fake', kind: 'separation', input: { type: 'url', url: 'https://example.com/a.wav' } });
    const watched = jobstream(['watch', job.id]);
    await expect.poll(() => server.hub.stats.subscriptions, { timeout: 15_000 }).toBeGreaterThan(0);
    provider.set(job.externalId!, 'BROKEN', { error: { code: 'BAD_INPUT', message: 'corrupt' } });
    const { code, stdout } = await watched;
    expect(code).toBe(1);
    expect(stdout).toContain('BAD_INPUT: corrupt');
  }, 40_000);

  it('lists jobs as a table with filters, and as JSON', async () => {
    const table = await jobstream(['jobs', '--status', 'succeeded']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID +PROVIDER\/KIND +NAME +STATUS/);
    expect(table.stdout).toContain('riff');
    expect(table.stdout).not.toContain('fake/separation');
    const json = JSON.parse((await jobstream(['jobs', '--json', '--kind', 'separation'])).stdout) as { status: string }[];
    expect(json.map((j) => j.status)).toEqual(['failed']);
  }, 30_000);

  it('explains mistakes in one line: usage errors exit 2, server refusals 1', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['submit', 'fake', 'transcription', join(dir, 'missing.wav')], {}, 2, /cannot read ".*missing\.wav"/],
      [['jobs', '--status', 'bogus'], {}, 2, /--status must be one of queued, running/],
      [['watch', 'job_nope'], {}, 2, /no job with id "job_nope"/],
      [['jobs'], { JOBSTREAM_TOKEN: 'wrong-token-wrong-token' }, 1, /a valid bearer token is required/],
      [['jobs'], { JOBSTREAM_TOKEN: '' }, 2, /no API token: pass --token or set JOBSTREAM_TOKEN/],
      [['submit', 'fake', 'transcription', 'https://example.com/a.wav', '--options', 'nope'], {}, 2, /--options must be a JSON object/],
      [['frobnicate'], {}, 2, /unknown command "frobnicate"/],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await jobstream(args, env);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.stderr.split('\n').filter((l) => l.startsWith('jobstream:'))[0], args.join(' ')).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  }, 60_000);

  it('has --help for every command, with examples', async () => {
    for (const command of ['demo', 'serve', 'simulate', 'submit', 'jobs', 'watch']) {
      const { code, stdout } = await jobstream([command, '--help']);
      expect(code, command).toBe(0);
      expect(stdout, command).toMatch(/^Usage: jobstream /);
      expect(stdout, command).toContain('Examples:');
    }
  }, 60_000);
});
