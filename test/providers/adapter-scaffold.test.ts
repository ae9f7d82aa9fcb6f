import type { Readable } from 'node:stream';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseAdapterOptions, scaffoldAdapter, serveResultFiles, type ProviderProfile, type ResultFileTable } from '../../src/providers/adapter-scaffold.js';
import { credentialIdOf, type ProviderConnection } from '../../src/providers/provider-http.js';
import { ProviderError } from '../../src/streams/errors.js';
import type { ProviderJobRef } from '../../src/streams/provider-port.js';

const API = 'https://api.example.com';
const CDN = 'https://cdn.example.net';
const KEY = 'scaffold-test-key';
const job: ProviderJobRef = { externalId: 'j1', kind: 'k', options: {} };

const PROFILE = {
  provider: 'demo',
  title: 'Demo',
  kinds: ['k'],
  webhooks: true,
  baseUrl: `${API}/v2`,
  pollPolicy: { intervalMs: 1000, backoff: { initialMs: 10, maxMs: 100 }, rate: { limit: 1, windowMs: 1000 }, maxInFlight: 2 },
  options: { depth: z.number().int().positive('must be a positive integer').default(3) },
} satisfies ProviderProfile<z.ZodRawShape>;

let agent: MockAgent;
let signal: AbortSignal;
beforeEach(() => {
  signal = new AbortController().signal;
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

async function text(body: Readable): Promise<string> {
  let out = '';
  for await (const chunk of body) out += String(chunk);
  return out;
}

describe('parseAdapterOptions', () => {
  it('applies the base URL default and the provider option defaults, dropping trailing slashes', () => {
    expect(parseAdapterOptions(PROFILE, { apiKey: KEY })).toEqual({ apiKey: KEY, baseUrl: `${API}/v2`, depth: 3 });
    expect(parseAdapterOptions(PROFILE, { apiKey: KEY, baseUrl: 'http://127.0.0.1:9/x//', depth: 7 })).toEqual({ apiKey: KEY, baseUrl: 'http://127.0.0.1:9/x', depth: 7 });
  });

  it('refuses bad options with one TypeError naming the provider and every field', () => {
    const attempt = () => parseAdapterOptions(PROFILE, { apiKey: ' ', baseUrl: 'ftp://x', depth: 0 });
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(
      'invalid Demo adapter options: apiKey: must be a non-empty string; baseUrl: must be an http(s) URL, got "ftp://x"; depth: must be a positive integer',
    );
    expect(() => parseAdapterOptions(PROFILE, {})).toThrow(/^invalid Demo adapter options: apiKey: must be a non-empty string$/);
  });
});

describe('scaffoldAdapter', () => {
  it('builds the fixed part once: credential id, merged poll policy, connection', () => {
    const scaffold = scaffoldAdapter(PROFILE, { apiKey: KEY, dispatcher: agent, pollPolicy: { intervalMs: 50 } });
    expect(scaffold.port).toEqual({
      provider: 'demo',
      kinds: ['k'],
      webhooks: true,
      credentialId: credentialIdOf(KEY),
      pollPolicy: { ...PROFILE.pollPolicy, intervalMs: 50 },
    });
    expect(scaffold.port.credentialId).not.toContain(KEY);
    expect(scaffold.connection).toEqual({ apiKey: KEY, baseUrl: `${API}/v2`, dispatcher: agent });
    expect(scaffold.settings.depth).toBe(3);
  });
});

describe('serveResultFiles', () => {
  const table: ResultFileTable = {
    files: (_job, result, connection: ProviderConnection) =>
      result === null
        ? []
        : [
            { name: 'notes.json', contentType: 'application/json', source: { from: 'stored', render: () => JSON.stringify(result) } },
            { name: 'own.mid', contentType: 'audio/midi', source: { from: 'url', url: `${connection.baseUrl}/files/own.mid`, headers: { 'x-key': connection.apiKey } } },
            { name: 'cdn.wav', contentType: 'audio/wav', source: { from: 'url', url: `${CDN}/cdn.wav`, headers: { 'x-key': connection.apiKey } } },
          ],
  };
  const serve = (t: ResultFileTable = table) => {
    const connection = { apiKey: KEY, baseUrl: `${API}/v2`, dispatcher: agent };
    // MockAgent answers made-up hosts in-process; the guard itself is tested in url-guard.test.ts.
    return serveResultFiles('demo', connection, agent, t);
  };

  it('lists names and types only', () => {
    expect(serve().resultFiles(job, { n: 1 })).toEqual([
      { name: 'notes.json', contentType: 'application/json' },
      { name: 'own.mid', contentType: 'audio/midi' },
      { name: 'cdn.wav', contentType: 'audio/wav' },
    ]);
  });

  it('serves a stored file without a call', async () => {
    const file = await serve().download(job, { n: 1 }, 'notes.json', { signal });
    expect(file.contentType).toBe('application/json');
    expect(await text(file.body)).toBe('{"n":1}');
  });

  it('sends the headers only to the provider origin, and keeps the answer type unless told otherwise', async () => {
    const seen: Record<string, unknown>[] = [];
    const capture = (body: string) => (opts: { headers?: unknown }) => {
      seen.push({ ...(opts.headers as Record<string, unknown>) });
      return body;
    };
    agent.get(API).intercept({ path: '/v2/files/own.mid', method: 'GET' }).reply(200, capture('MThd'), { headers: { 'content-type': 'application/octet-stream' } });
    agent.get(CDN).intercept({ path: '/cdn.wav', method: 'GET' }).reply(200, capture('RIFF'), { headers: { 'content-type': 'application/octet-stream' } });
    const own = await serve().download(job, { n: 1 }, 'own.mid', { signal });
    expect([own.contentType, await text(own.body)]).toEqual(['application/octet-stream', 'MThd']);
    const cdn = await serve({ ...table, preferOwnType: true }).download(job, { n: 1 }, 'cdn.wav', { signal });
    expect([cdn.contentType, await text(cdn.body)]).toEqual(['audio/wav', 'RIFF']);
    expect(seen[0]).toMatchObject({ 'x-key': KEY });
    expect(seen[1]).not.toHaveProperty('x-key');
  });

  it('rejects a name the job does not offer, listing what it offers', async () => {
    const error = await serve().download(job, { n: 1 }, 'nope.txt', { signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ failure: 'rejected', message: expect.stringContaining('job j1 has no result file "nope.txt" (files: notes.json, own.mid, cdn.wav)') });
    await expect(serve().download(job, null, 'notes.json', { signal })).rejects.toThrow('(files: none)');
  });
});
