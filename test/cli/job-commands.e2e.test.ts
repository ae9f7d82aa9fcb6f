import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot, JsonValue } from '../../src/streams/job-snapshot.js';
import type { ProviderJobRef, ResultDownload, ResultFile } from '../../src/streams/provider-port.js';
import { FakeProvider } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

const cli = join(import.meta.dirname, '../../src/cli.ts');
// Run from other directories: tsx is found from here, not from the working directory.
const tsx = import.meta.resolve('tsx');

/** Result file names a hostile or careless provider (or server) could send. */
const HOSTILE = ['../x', '../../escape.txt', 'a/b.txt', '.hidden', 'ok.txt', 'OK.TXT', 'bell\x07\u202eevil.txt'];

/** The fake provider, but a job whose result is `"hostile"` offers the names above. */
class HostileNames extends FakeProvider {
  override resultFiles(job: ProviderJobRef, result: JsonValue): ResultFile[] {
    return result === 'hostile' ? HOSTILE.map((name) => ({ name, contentType: 'text/plain' })) : super.resultFiles(job, result);
  }

  override async download(job: ProviderJobRef, result: JsonValue, name: string): Promise<ResultDownload> {
    if (result !== 'hostile') return super.download(job, result, name);
    return { contentType: 'text/plain', body: Readable.from([Buffer.from(`content of ${name}`)]) };
  }
}

let server: RunningServer;
let provider: HostileNames;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-cli-jobs-'));
  provider = new HostileNames();
  // Result copies on: sizes are known, as on a real server.
  ({ server } = await startTestServer({ provider, resultsDir: join(dir, 'server-results') }));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `jobstream <args>` in `cwd` against the test server; resolves with its output and exit code. */
async function jobstream(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', tsx, cli, ...args], {
      env: { ...process.env, JOBSTREAM_URL: server.url, JOBSTREAM_TOKEN: TOKEN, JOBSTREAM_DATA_DIR: join(dir, 'no-data'), ...options.env },
      cwd: options.cwd ?? dir,
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A job submitted to the fake provider and moved to `result` (succeeded, copies made) or failed. */
async function finishedJob(outcome: { result: string } | { error: string }, request: { name?: string; metadata?: Record<string, string> } = {}): Promise<JobSnapshot> {
  const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/take.wav' }, options: { model: 'guitar' }, ...request });
  if ('result' in outcome) provider.set(job.externalId!, 'DONE', { result: outcome.result });
  else provider.set(job.externalId!, 'BROKEN', { error: { code: 'BAD_INPUT', message: outcome.error } });
  await expect.poll(() => server.engine.get(job.id)?.status, { timeout: 10_000 }).toBe('result' in outcome ? 'succeeded' : 'failed');
  if ('result' in outcome) await expect.poll(() => server.engine.get(job.id)?.artifacts?.state, { timeout: 10_000 }).toBe('complete');
  return server.engine.get(job.id)!;
}

describe('jobstream results', () => {
  it('downloads every result file into --out, hostile names made plain and kept inside it', async () => {
    const job = await finishedJob({ result: 'hostile' });
    const work = join(dir, 'work-1');
    await mkdir(join(work, 'inner'), { recursive: true });
    const { code, stdout, stderr } = await jobstream(['results', job.id, '--out', 'inner/out'], { cwd: work });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const written = (await readdir(join(work, 'inner/out'))).sort();
    // Nothing outside --out: the parents hold only what was there.
    expect(await readdir(work)).toEqual(['inner']);
    expect(await readdir(join(work, 'inner'))).toEqual(['out']);
    expect(written).toEqual(['OK-2.TXT', '__.._escape.txt', '__x', '_hidden', 'a_b.txt', 'bell__evil.txt', 'ok.txt'].sort());
    // Each file holds its own content, whatever its name became.
    expect(await readFile(join(work, 'inner/out/__x'), 'utf8')).toBe('content of ../x');
    expect(await readFile(join(work, 'inner/out/OK-2.TXT'), 'utf8')).toBe('content of OK.TXT');
    expect(await readFile(join(work, 'inner/out/bell__evil.txt'), 'utf8')).toBe('content of bell\x07\u202eevil.txt');
    // It says what it wrote, and which names it changed, without control characters.
    expect(stdout).toContain(`inner/out/__x  15 B  (the server's name: "../x")`);
    expect(stdout).toContain('inner/out/ok.txt  17 B\n');
    expect(stdout).not.toContain('\x07');
    expect(stdout).not.toContain('\u202e');
    expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^7 files, \d+ B, in .*inner\/out$/);
  }, 40_000);

  it('never overwrites without --force (and then writes nothing), overwrites with it', async () => {
    const job = await finishedJob({ result: 'plain' });
    const out = join(dir, 'work-2');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'result.txt'), 'mine');
    const refused = await jobstream(['results', job.id, '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd()).toMatch(/^jobstream: not overwriting .*work-2\/result\.txt: pass --force to overwrite, or --out another directory \(nothing was downloaded\)$/);
    expect(await readFile(join(out, 'result.txt'), 'utf8')).toBe('mine');
    const forced = await jobstream(['results', job.id, '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(out, 'result.txt'), 'utf8')).toBe('content of plain');
  }, 40_000);

  it('writes into ./<job id> by default', async () => {
    const job = await finishedJob({ result: 'default dir' });
    const work = join(dir, 'work-3');
    await mkdir(work);
    expect((await jobstream(['results', job.id], { cwd: work })).code).toBe(0);
    expect(await readFile(join(work, job.id, 'result.txt'), 'utf8')).toBe('content of default dir');
  }, 40_000);

  it('removes the partial file when a download breaks off, keeps the files before it, and exits 1', async () => {
    // A server that drops the connection halfway through the second file.
    const job = { ...createSnapshot({ id: 'job_broken', provider: 'fake', kind: 'transcription', externalId: 'e1', name: null, metadata: {}, options: {}, createdAt: 1 }), status: 'succeeded' };
    const flaky: Server = createServer((request, response) => {
      const send = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (request.url === '/v1/token') send({ type: 'admin' });
      else if (request.url === '/v1/jobs/job_broken') send({ job });
      else if (request.url === '/v1/jobs/job_broken/results') send({ files: [{ name: 'first.txt', contentType: 'text/plain' }, { name: 'second.txt', contentType: 'text/plain' }] });
      else if (request.url === '/v1/jobs/job_broken/results/first.txt') response.writeHead(200, { 'content-type': 'text/plain' }).end('whole');
      else {
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
        response.write('half of it', () => response.destroy());
      }
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const out = join(dir, 'work-broken');
      const { code, stderr } = await jobstream(['results', 'job_broken', '--out', out], { env: { JOBSTREAM_URL: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}` } });
      expect(code).toBe(1);
      expect(stderr.trimEnd()).toMatch(/^jobstream: downloading second\.txt of job_broken failed \(.+\); files written before it are kept$/);
      expect(await readdir(out)).toEqual(['first.txt']);
      expect(await readFile(join(out, 'first.txt'), 'utf8')).toBe('whole');
    } finally {
      await new Promise((resolve) => flaky.close(resolve));
    }
  }, 40_000);

  it('explains a job without results (exit 1)', async () => {
    const failed = await finishedJob({ error: 'corrupt' });
    const { code, stderr } = await jobstream(['results', failed.id]);
    expect(code).toBe(1);
    expect(stderr.trimEnd()).toBe(`jobstream: ${failed.id} is failed: result files exist once a job has succeeded (BAD_INPUT: corrupt)`);
  }, 40_000);
});

describe('jobstream show', () => {
  it('shows a job: status, times, duration, input, options, metadata, result and files', async () => {
    const job = await finishedJob({ result: 'plain' }, { name: 'riff', metadata: { userId: '42' } });
    const { code, stdout } = await jobstream(['show', job.id]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${job.id}  riff`);
    expect(stdout).toContain(`  provider     fake/transcription  (external id ${job.externalId})`);
    expect(stdout).toMatch(/\n {2}status {7}succeeded {2}\(provider status DONE\), last change via results\n/);
    expect(stdout).toMatch(/\n {2}duration {5}\d+(ms|\.\d+s) {2}\(succeeded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC via poll\)\n/);
    expect(stdout).toContain('  input        https://example.com/take.wav\n');
    expect(stdout).toContain('  options      {"model":"guitar"}\n');
    expect(stdout).toContain('  metadata     userId=42\n');
    expect(stdout).toContain('  result       "plain"\n');
    expect(stdout).toMatch(/\n {2}result files 1 \(jobstream results job_\w+ downloads them\)\n {15}result\.txt {2}text\/plain {2}16 B\n/);
  }, 40_000);

  it('shows the error of a failed job, the elapsed time of a running one, and pipeline links both ways', async () => {
    const failed = await finishedJob({ error: 'corrupt\x1b[2J' });
    const shown = await jobstream(['show', failed.id]);
    expect(shown.stdout).toContain('  error        BAD_INPUT: corrupt\ufffd[2J\n');
    const upstream = await server.engine.submit({ provider: 'fake', kind: 'separation', input: { type: 'url', url: 'https://example.com/song.wav' } });
    const downstream = await server.engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: upstream.id, inputFrom: 'result.txt' } });
    const up = await jobstream(['show', upstream.id]);
    expect(up.stdout).toMatch(/\n {2}elapsed {6}\d+(ms|\.\d+s) since it was created\n/);
    expect(up.stdout).toContain(`  feeds        ${downstream.id}  fake/transcription  queued\n`);
    const down = await jobstream(['show', downstream.id]);
    expect(down.stdout).toContain(`  waits for    ${upstream.id}  (input from its result.txt)  (not started yet)\n`);
  }, 40_000);

  it('--json prints the snapshot as the server sends it', async () => {
    const job = await finishedJob({ result: 'json' });
    const { code, stdout } = await jobstream(['show', job.id, '--json']);
    expect(code).toBe(0);
    const printed = JSON.parse(stdout) as Record<string, unknown>;
    const sent = ((await (await fetch(`${server.url}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { job: unknown }).job;
    expect(printed).toEqual(sent);
    expect(printed).toMatchObject({ id: job.id, status: 'succeeded', result: 'json' });
  }, 40_000);
});

describe('jobstream providers', () => {
  it('lists the providers with kinds and cancel mode, and each lane\'s health', async () => {
    const { code, stdout } = await jobstream(['providers']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^PROVIDER {2}CANCEL {11}KINDS\nfake {6}at the provider {2}transcription, separation\n/);
    expect(stdout).toMatch(/\n {2}fake:key-1 {2}fake {2}OK {2}\d+ jobs?/);
    const json = JSON.parse((await jobstream(['providers', '--json'])).stdout) as { providers: unknown[]; lanes: { provider: string }[] | null };
    expect(json.providers).toEqual([{ name: 'fake', kinds: ['transcription', 'separation'], cancel: 'provider' }]);
    expect(json.lanes?.map((lane) => lane.provider)).toEqual(['fake']);
  }, 40_000);

  it('still lists the providers of a server without lane health (GET /v1/providers/health answers 404)', async () => {
    // An older jobstream: the token and providers answer, health does not exist.
    const older: Server = createServer((request, response) => {
      const send = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (request.url === '/v1/token') send(200, { type: 'admin' });
      else if (request.url === '/v1/providers') send(200, { providers: [{ name: 'klangio', kinds: ['transcription'] }] });
      else send(404, { error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } });
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
    try {
      const { code, stdout } = await jobstream(['providers'], { env: { JOBSTREAM_URL: `http://127.0.0.1:${(older.address() as AddressInfo).port}` } });
      expect(code).toBe(0);
      expect(stdout).toMatch(/^PROVIDER {2}CANCEL {3}KINDS\nklangio {3}unknown {2}transcription\n/);
      expect(stdout).toContain('lane health: this server does not report it (GET /v1/providers/health answered 404; a newer jobstream does)');
    } finally {
      await new Promise((resolve) => older.close(resolve));
    }
  }, 40_000);
});

describe('jobstream track', () => {
  it('adopts a job and, with --watch, follows it and lists its result files', async () => {
    provider.set('made-elsewhere', 'WORKING', { progress: 0.2 });
    const watched = jobstream(['track', 'fake', 'transcription', 'made-elsewhere', '--name', 'from the web UI', '--watch']);
    await expect.poll(() => server.engine.list({ providers: ['fake'] }).jobs.find((job) => job.externalId === 'made-elsewhere')?.status, { timeout: 15_000 }).toBe('running');
    provider.set('made-elsewhere', 'DONE', { result: 'adopted' });
    const { code, stdout } = await watched;
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^job_\w+ {2}fake\/transcription {2}tracking made-elsewhere {2}(queued|running)$/);
    const id = lines[0]!.split(' ')[0]!;
    expect(lines.slice(-4)).toEqual([`result files of ${id}:`, '  result.txt  18 B  text/plain', 'download them with:', `  jobstream results ${id}`]);
  }, 40_000);

  it('explains what the server refuses (exit 1)', async () => {
    // The server's message repeats the name, escape code and all: printed as text.
    const { code, stderr } = await jobstream(['track', 'no\x1b[2Jbody', 'transcription', 'x1']);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^jobstream: no provider "no\ufffd\[2Jbody" is configured/);
  }, 40_000);
});

describe('jobstream jobs: search, time range, order', () => {
  it('finds jobs by a part of their name, oldest first, and says how many match in all', async () => {
    const made: JobSnapshot[] = [];
    for (const name of ['Zebra take 1', 'zebra take 2', 'zebra take 3', 'lion take 1']) {
      made.push(await server.engine.submit({ provider: 'fake', kind: 'separation', name, input: { type: 'url', url: 'https://example.com/z.wav' } }));
    }
    const { code, stdout } = await jobstream(['jobs', '--search', 'ZEBRA', '--oldest-first', '--limit', '2', '--from', '1h']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    // Oldest first: by creation time, then id (jobs made in the same millisecond).
    const oldest = made.slice(0, 3).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    expect(lines.slice(1, 3).map((line) => line.split(/ {2,}/)[0])).toEqual([oldest[0]!.id, oldest[1]!.id]);
    expect(lines[3]).toBe('2 of 3 matching jobs (--limit shows more; --search, --from, --to narrow)');
    const none = await jobstream(['jobs', '--search', 'zebra', '--to', '2020-01-01']);
    expect(none.stdout).toBe('no jobs\n');
  }, 40_000);

  it('refuses to pretend on a server that cannot search', async () => {
    const older: Server = createServer((request, response) => {
      const send = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (request.url === '/v1/token') send({ type: 'admin' });
      else send({ jobs: [], nextCursor: null });
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
    try {
      const { code, stderr } = await jobstream(['jobs', '--search', 'zebra'], { env: { JOBSTREAM_URL: `http://127.0.0.1:${(older.address() as AddressInfo).port}` } });
      expect(code).toBe(1);
      expect(stderr.trimEnd()).toBe('jobstream: this server cannot search, sort or take a time range (GET /v1/jobs answered without a total; a newer jobstream can)');
    } finally {
      await new Promise((resolve) => older.close(resolve));
    }
  }, 40_000);
});

describe('jobstream retry', () => {
  it('submits a failed job again as a new job linked to it, shown both ways', async () => {
    const failed = await finishedJob({ error: 'timeout' }, { name: 'take 1' });
    const { code, stdout } = await jobstream(['retry', failed.id]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^job_\\w+ {2}fake/transcription {2}(queued|running) {2}retry of ${failed.id}\n$`));
    const retried = stdout.split(' ')[0]!;
    expect(server.engine.get(retried)).toMatchObject({ retryOf: failed.id, name: 'take 1', input: { type: 'url', url: 'https://example.com/take.wav' } });
    expect((await jobstream(['show', retried])).stdout).toContain(`  retry of     ${failed.id}\n`);
    expect((await jobstream(['show', failed.id])).stdout).toMatch(new RegExp(`\n {2}retried as {3}${retried} {2}(queued|running)\n`));
  }, 40_000);

  it('explains a job that cannot be sent again (an adopted one): exit 1', async () => {
    const adopted = await server.engine.track({ provider: 'fake', kind: 'transcription', externalId: 'adopted-for-retry' });
    const { code, stderr } = await jobstream(['retry', adopted.id]);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^jobstream: job "${adopted.id}" cannot be retried: `));
  }, 40_000);
});

describe('mistakes, in one line each', () => {
  // Each case spawns the CLI (a few seconds on a loaded machine): one test each.
  const mistakes: [string[], number, RegExp][] = [
    [['show', 'job_nope'], 1, /^jobstream: no job with id "job_nope"$/],
    [['results', 'job_nope'], 1, /^jobstream: no job with id "job_nope"$/],
    [['retry', 'job_nope'], 1, /^jobstream: no job with id "job_nope"$/],
    [['cancel', 'job_nope', '--yes'], 1, /^jobstream: no job with id "job_nope"$/],
    [['watch', 'job_nope'], 1, /^jobstream: no job with id "job_nope"$/],
    [['show'], 2, /^jobstream: show needs a job id/],
    [['show', 'a', 'b'], 2, /^jobstream: unexpected argument "b"$/],
    [['results'], 2, /^jobstream: results needs a job id/],
    [['results', 'a', '--out'], 2, /Option '-o, --out <value>' argument missing/],
    [['track', 'fake', 'transcription'], 2, /^jobstream: track needs a provider, a kind and the provider's id/],
    [['track', 'fake', 'transcription', 'x', '--options', '[1]'], 2, /^jobstream: --options must be a JSON object/],
    [['providers', 'extra'], 2, /^jobstream: unexpected argument "extra"$/],
    [['jobs', '--from', 'yesterday'], 2, /^jobstream: --from must be an ISO 8601 date or time .*got "yesterday"$/],
    [['jobs', '--sort', 'name'], 2, /^jobstream: --sort must be created or updated, got "name"$/],
    [['retry'], 2, /^jobstream: retry needs a job id/],
    [['shwo', 'x'], 2, /^jobstream: unknown command "shwo" \(did you mean "show"\?\): see jobstream --help$/],
    [['result', 'x'], 2, /^jobstream: unknown command "result" \(did you mean "results"\?\): see jobstream --help$/],
  ];
  it.each(mistakes.map(([args, ...rest]) => [args.join(' '), args, ...rest] as const))('jobstream %s', async (_name, args, code, message) => {
    const result = await jobstream(args);
    expect(result.code).toBe(code);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr.trimEnd()).toMatch(message);
  }, 30_000);

  it('has --help for every new command, with examples', async () => {
    for (const command of ['show', 'results', 'providers', 'track', 'retry', 'cancel']) {
      const { code, stdout } = await jobstream([command, '--help']);
      expect(code, command).toBe(0);
      expect(stdout, command).toMatch(new RegExp(`^Usage: jobstream ${command}`));
      expect(stdout, command).toContain('Examples:');
    }
    const top = await jobstream(['--help']);
    for (const command of ['show', 'results', 'providers', 'track', 'retry']) expect(top.stdout).toMatch(new RegExp(`\\n {2}${command} `));
  }, 60_000);
});
