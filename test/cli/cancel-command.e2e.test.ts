import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelCommand } from '../../src/cli/cancel-command.js';
import type { RunningServer } from '../../src/server/server.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { FakeProvider } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

const cli = join(import.meta.dirname, '../../src/cli.ts');
const input = { type: 'url' as const, url: 'https://example.com/a.wav' };
let server: RunningServer;

beforeAll(async () => {
  // `plain` has no cancel, like Klangio, Camb.ai and sunoapi.org.
  const plain = Object.assign(new FakeProvider({ provider: 'plain' }), { cancel: undefined });
  ({ server } = await startTestServer({ providers: [new FakeProvider(), plain] }));
});
afterAll(async () => {
  await server.close();
});

/** Runs `jobstream <args>` against the test server with stdin a pipe (not a terminal). */
async function jobstream(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], {
      env: { ...process.env, JOBSTREAM_URL: server.url, JOBSTREAM_TOKEN: TOKEN },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs the command in this process with `answer` typed on a terminal; resolves with its exit code and output. */
async function onTerminal(args: string[], answer: string): Promise<{ code: number; out: string }> {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    // Answer once asked, as a person would.
    if (text.includes('[y/N]') && !stdin.writableEnded) stdin.end(`${answer}\n`);
  });
  const code = await cancelCommand([...args, '--server', server.url, '--token', TOKEN], out, new AbortController().signal, stdin);
  return { code, out: text };
}

const submit = (provider: string): Promise<JobSnapshot> => server.engine.submit({ provider, kind: 'transcription', input });

describe('jobstream cancel', () => {
  it('refuses to cancel without --yes when stdin is not a terminal, saying why and what a cancel would do (exit 2, nothing canceled)', async () => {
    const job = await submit('plain');
    const { code, stderr } = await jobstream(['cancel', job.id]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^jobstream: not canceling job_\w+ without confirmation: stdin is not a terminal to ask on; pass --yes to cancel anyway\./);
    expect(stderr).toContain('plain cannot cancel jobs');
    expect(stderr).toContain('plain may still run it and bill for it');
    expect(server.engine.get(job.id)?.status).toBe('queued');
  }, 40_000);

  it('with --yes, stops tracking a job its provider cannot cancel and says the provider may still bill it', async () => {
    const job = await submit('plain');
    const { code, stdout } = await jobstream(['cancel', job.id, '--yes']);
    expect(code).toBe(0);
    expect(stdout).toContain(`${job.id}  plain/transcription  canceled (tracking-stopped)`);
    expect(stdout).toMatch(/TRACKING_STOPPED: .*plain may still run it and bill for it/);
    expect(server.engine.get(job.id)).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped' });
  }, 40_000);

  it('asks on a terminal in the words of the provider, and cancels only on yes', async () => {
    const plain = await submit('plain');
    const declined = await onTerminal([plain.id], 'n');
    expect(declined.code).toBe(1);
    expect(declined.out).toContain(`plain cannot cancel jobs. Cancelling job ${plain.id}, plain/transcription only stops jobstream from tracking it: plain may still run it and bill for it.\nStop tracking? [y/N] `);
    expect(declined.out).toContain('not canceled');
    expect(server.engine.get(plain.id)?.status).toBe('queued');

    const fake = await submit('fake');
    const accepted = await onTerminal([fake.id], 'y');
    expect(accepted.code).toBe(0);
    expect(accepted.out).toContain(`Cancel job ${fake.id}, fake/transcription? fake will be asked to cancel it.\nCancel job? [y/N] `);
    expect(accepted.out).toContain('canceled (canceled)');
    expect(server.engine.get(fake.id)).toMatchObject({ status: 'canceled', providerStatus: 'canceled' });
  });

  it('asks about a job whose name carries terminal codes without sending them to the terminal', async () => {
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', name: 'riff\x1b[2J\u202e', input });
    const declined = await onTerminal([job.id], 'n');
    expect(declined.code).toBe(1);
    expect(declined.out).toContain(`Cancel job "riff\ufffd[2J\ufffd" (${job.id}), fake/transcription?`);
    expect(declined.out).not.toContain('\x1b');
  });

  it('says so for a finished job, and explains a missing id', async () => {
    const job = await submit('fake');
    await server.engine.cancel(job.id);
    const done = await onTerminal([job.id], 'y');
    expect(done).toMatchObject({ code: 0 });
    expect(done.out).toContain('already canceled: nothing to cancel');
    await expect(onTerminal(['job_nope'], 'y')).rejects.toThrow('no job with id "job_nope"');
    await expect(onTerminal([], 'y')).rejects.toThrow(/cancel needs a job id/);
  });

  it('has --help with examples', async () => {
    const { code, stdout } = await jobstream(['cancel', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: jobstream cancel <job id>/);
    expect(stdout).toContain('Examples:');
  }, 40_000);
});
