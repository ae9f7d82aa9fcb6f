import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/cli/client-connection.js';
import { readLocalServer, recordLocalServer } from '../../src/cli/local-server.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-connection-'));
  await recordLocalServer(dir, { url: 'http://127.0.0.1:41234', token: 'the-demo-token-0123456789' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('recordLocalServer', () => {
  it('keeps the URL, and a token that only its owner can read', async () => {
    expect(await readLocalServer(dir)).toEqual({ url: 'http://127.0.0.1:41234', token: 'the-demo-token-0123456789' });
    expect((await stat(join(dir, 'token'))).mode & 0o777).toBe(0o600);
  });

  it('removes a token left by an earlier run when the token now comes from the environment', async () => {
    const other = await mkdtemp(join(tmpdir(), 'jobstream-connection-'));
    await writeFile(join(other, 'token'), 'stale-token-0123456789', { mode: 0o644 });
    await recordLocalServer(other, { url: 'http://127.0.0.1:1234', token: undefined });
    expect(await readLocalServer(other)).toEqual({ url: 'http://127.0.0.1:1234', token: undefined });
    await rm(other, { recursive: true, force: true });
  });
});

describe('resolveConnection', () => {
  it('finds the server and token a demo or serve noted in the data directory', async () => {
    expect(await resolveConnection({ data: dir }, {})).toMatchObject({ url: 'http://127.0.0.1:41234', token: 'the-demo-token-0123456789', tokenFrom: `${dir}/token` });
    expect(await resolveConnection({}, { JOBSTREAM_DATA_DIR: dir })).toMatchObject({ token: 'the-demo-token-0123456789' });
  });

  it('lets flags and the environment win', async () => {
    expect(await resolveConnection({ data: dir, token: 'from-the-flag-0123456' }, { JOBSTREAM_TOKEN: 'from-env-0123456789' })).toMatchObject({ token: 'from-the-flag-0123456', tokenFrom: '--token' });
    expect(await resolveConnection({ data: dir }, { JOBSTREAM_TOKEN: 'from-env-0123456789' })).toMatchObject({ url: 'http://127.0.0.1:41234', tokenFrom: 'JOBSTREAM_TOKEN' });
  });

  it('sends the data directory token to its own server only, never to a URL given some other way', async () => {
    await expect(resolveConnection({ data: dir, server: 'http://127.0.0.1:9999' }, {})).rejects.toThrow(/no API token for http:\/\/127\.0\.0\.1:9999/);
    await expect(resolveConnection({ data: dir }, { JOBSTREAM_URL: 'https://jobs.example.com' })).rejects.toThrow(/no API token/);
    expect(await resolveConnection({ data: dir, server: 'http://127.0.0.1:41234/' }, {})).toMatchObject({ token: 'the-demo-token-0123456789' });
  });

  it.each([
    ['localhost:8080', /--server must be an http:\/\/ or https:\/\/ URL, e\.g\. http:\/\/localhost:8080; got "localhost:8080" \(the scheme is missing/],
    ['127.0.0.1:8080', /e\.g\. http:\/\/127\.0\.0\.1:8080/],
    ['ftp://example.com', /--server must be an http:\/\/ or https:\/\/ URL; got "ftp:\/\/example\.com"/],
    ['http://', /--server must be an http/],
  ])('refuses --server %s with the reason', async (server, message) => {
    await expect(resolveConnection({ server, token: 'x'.repeat(20), data: dir }, {})).rejects.toThrow(message);
  });

  it('names JOBSTREAM_URL when the bad URL came from there', async () => {
    await expect(resolveConnection({ token: 'x'.repeat(20), data: dir }, { JOBSTREAM_URL: 'localhost:8080' })).rejects.toThrow(/^JOBSTREAM_URL must be an http/);
  });
});
