import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, TestProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-serve-'));
});
afterEach(async () => {
  await TestProcess.killAll();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** No token, URL or data directory from the machine running the tests. */
const clean = { JOBSTREAM_TOKEN: '', JOBSTREAM_URL: '', JOBSTREAM_DATA_DIR: '' };

/** Runs a client command to its end; resolves with its output and exit code. */
async function jobstream(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jobstream serve, for a person at a terminal', () => {
  it('prints the dashboard URL, names a misspelt variable, and leaves its URL and token for the client commands', async () => {
    const data = join(dir, 'pretty');
    const serve = TestProcess.cli(['serve', '--port', '0', '--data', data], { ...clean, JOBSTREAM_LOG_FORMAT: 'pretty', KLANGIO_APIKEY: 'oops' });
    const [, url, token] = await serve.waitForLine(/^ {2}dashboard: (http:\/\/127\.0\.0\.1:\d+)\/\?token=(\S+)$/);
    await serve.waitForLine(/Press Ctrl-C to stop/);
    expect(serve.lines).toContain('  warning:   KLANGIO_APIKEY is not a jobstream setting: did you mean KLANGIO_API_KEY?');
    expect(serve.lines).toContain('  providers: none configured: set <PROVIDER>_API_KEY');
    expect((await stat(join(data, 'token'))).mode & 0o777).toBe(0o600);

    // Beside the data directory, with no flags and no environment, the client finds the server.
    const listed = await jobstream(['jobs', '--data', data], clean);
    expect(listed).toMatchObject({ code: 0, stdout: 'no jobs\n' });
    // With the token it found, the dashboard link works too.
    expect((await fetch(`${url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    // That token goes to that server only.
    const elsewhere = await jobstream(['jobs', '--data', data, '--server', 'http://127.0.0.1:1'], clean);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/^jobstream: no API token for http:\/\/127\.0\.0\.1:1: pass --token or set JOBSTREAM_TOKEN/);
    expect(await serve.stop('SIGINT')).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('logs a misspelt variable as a warning in JSON logs', async () => {
    const serve = TestProcess.cli(['serve', '--port', '0', '--data', join(dir, 'json')], { ...clean, JOBSTREAM_LOG_FORMAT: 'json', SUNOAPI_BASEURL: 'http://127.0.0.1:1' });
    await serve.waitForListening();
    expect(serve.logs).toContainEqual(expect.objectContaining({ level: 'warn', variable: 'SUNOAPI_BASEURL', meant: 'SUNOAPI_BASE_URL' }));
    expect(await serve.stop('SIGINT')).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('says in one line that the port is in use, and exits 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const result = await jobstream(['serve', '--port', String(port), '--data', join(dir, 'busy')], { ...clean, JOBSTREAM_LOG_FORMAT: 'json' });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `jobstream: cannot listen on 127.0.0.1:${port}: the port is already in use (by another jobstream or another program); choose another with --port, or --port 0 for any free port\n`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);
});
