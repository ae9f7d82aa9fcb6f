import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
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

let closedPort: number;

beforeAll(async () => {
  ({ server, provider } = await startTestServer());
  dir = await mkdtemp(join(tmpdir(), 'jobstream-cli-'));
  // A port nothing listens on: taken from the system, then given back.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `jobstream <args>` against the test server; resolves with its output and exit code. */
async function jobstream(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], {
      // An empty data directory: a ./data of a demo running here must not answer for the test server.
      env: { ...process.env, JOBSTREAM_URL: server.url, JOBSTREAM_TOKEN: TOKEN, JOBSTREAM_DATA_DIR: dir, ...env },
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
    const [submitted, ...rest] = stdout.trimEnd().split('\n');
    expect(submitted).toMatch(/^job_\w+ {2}fake\/transcription {2}queued$/);
    // At the end, the result files (this server keeps no copies: no sizes) and how to get them.
    const id = submitted!.split(' ')[0]!;
    expect(rest.slice(-4)).toEqual([`result files of ${id}:`, '  result.txt  text/plain', 'download them with:', `  jobstream results ${id}`]);
    const changes = rest.slice(0, -4);
    // Not a terminal: one line per change (no tables, no repeated header), the last one the success.
    expect(changes.length).toBeGreaterThan(0);
    for (const line of changes) expect(line).toMatch(/^\d\d:\d\d:\d\d {2}job_\w+ {2}fake\/transcription {2}riff {2}(queued|running|succeeded)/);
    expect(changes.at(-1)).toMatch(/riff {2}succeeded/);
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

  // Each case spawns the CLI (a few seconds on a loaded machine): one test each.
  const mistakes: [string[], () => Record<string, string>, number, RegExp][] = [
    [['submit', 'fake', 'transcription', 'missing.wav'], () => ({}), 2, /cannot read "missing\.wav"/],
    [['jobs', '--status', 'bogus'], () => ({}), 2, /--status must be one of queued, running/],
    [['jobs', '(a wrong token)'], () => ({ JOBSTREAM_TOKEN: 'wrong-token-wrong-token' }), 1, /^jobstream: the server at http:\/\/127\.0\.0\.1:\d+ refused the token from JOBSTREAM_TOKEN \(401 Unauthorized\)/],
    [['jobs', '--server', 'localhost:8080'], () => ({}), 2, /^jobstream: --server must be an http:\/\/ or https:\/\/ URL, e\.g\. http:\/\/localhost:8080; got "localhost:8080" \(the scheme is missing/],
    [['jobs', '(nothing listens)'], () => ({ JOBSTREAM_URL: `http://127.0.0.1:${closedPort}` }), 1, /^jobstream: cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(connection refused; URL from JOBSTREAM_URL\): is it running\?/],
    [['jobs', '(no token)'], () => ({ JOBSTREAM_TOKEN: '' }), 2, /no API token for http:\/\/127\.0\.0\.1:\d+: pass --token or set JOBSTREAM_TOKEN/],
    [['submit', 'fake', 'transcription', 'https://example.com/a.wav', '--options', 'nope'], () => ({}), 2, /--options must be a JSON object/],
    [['frobnicate'], () => ({}), 2, /^jobstream: unknown command "frobnicate": see jobstream --help$/],
    [['wacth'], () => ({}), 2, /^jobstream: unknown command "wacth" \(did you mean "watch"\?\): see jobstream --help$/],
    [['watch', '--bogus'], () => ({}), 2, /Unknown option '--bogus'/],
    [['jobs', '--limit', 'many'], () => ({}), 2, /--limit must be an integer/],
    [['submit', 'fake'], () => ({}), 2, /submit needs a provider and a kind/],
    [['serve', '--port', 'abc'], () => ({}), 2, /^jobstream: invalid configuration: --port must be a whole number from 0 to 65535, got "abc"$/],
    [['serve', 'extra'], () => ({}), 2, /Unexpected argument 'extra'/],
    [['demo', '--speed', 'fast'], () => ({}), 2, /--speed must be a number/],
    [['simulate', 'nobody'], () => ({}), 2, /simulate needs a provider/],
  ];
  it.each(mistakes.map(([args, ...rest]) => [args.join(' '), args.filter((arg) => !arg.startsWith('(')), ...rest] as const))(
    'explains a mistake in one line: jobstream %s',
    async (_name, args, env, code, message) => {
    const result = await jobstream(args, env());
    expect(result.code).toBe(code);
    // One line: no help text, no stack.
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr.trimEnd()).toMatch(message);
    },
    30_000,
  );

  it('has --help for every command, with examples', async () => {
    for (const command of ['demo', 'serve', 'simulate', 'submit', 'jobs', 'watch']) {
      const { code, stdout } = await jobstream([command, '--help']);
      expect(code, command).toBe(0);
      expect(stdout, command).toMatch(/^Usage: jobstream /);
      expect(stdout, command).toContain('Examples:');
    }
  }, 60_000);
});
