import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer } from '../support/test-server.js';

const servers: RunningServer[] = [];
const agents: Agent[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(agents.splice(0).map((agent) => agent.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function withJob() {
  const started = await startTestServer();
  servers.push(started.server);
  const job = await started.server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
  return { ...started, job, hookUrl: started.provider.created[0]!.webhookUrl! };
}

const metricsOf = async (api: (path: string) => Promise<Response>): Promise<string> => (await api('/metrics')).text();

/** Reads from a raw socket until `done(text so far)` holds, or fails after `ms`. */
function readUntil(socket: Socket, done: (text: string) => boolean, ms: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(text.slice(0, 200))}`)), ms);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish();
    };
    const onEnd = () => finish(new Error(`the connection ended before ${what}; got ${JSON.stringify(text.slice(0, 200))}`));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', finish);
      if (error === undefined) resolve(text);
      else reject(error);
    };
    socket.on('data', onData).on('end', onEnd).on('error', finish);
  });
}

describe('webhook intake hardening', () => {
  it('keeps /metrics small after 2,000 posts to random provider names: no label per name (was: every name a series, 15,000 grew it to 30.9 MB)', async () => {
    const { server, api } = await withJob();
    const before = await metricsOf(api);
    const agent = new Agent({ connections: 16 });
    agents.push(agent);
    const names = Array.from({ length: 2000 }, () => `p${randomBytes(6).toString('hex')}`);
    for (let i = 0; i < names.length; i += 100) {
      const statuses = await Promise.all(
        names.slice(i, i + 100).map(async (name) => {
          const answer = await request(`${server.url}/v1/hooks/${name}/job_x.secret`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json' },
            body: '{"id":"ext-1","status":"DONE"}',
          });
          await answer.body.dump();
          return answer.statusCode;
        }),
      );
      expect(new Set(statuses)).toEqual(new Set([404]));
    }
    const after = await metricsOf(api);
    expect(names.filter((name) => after.includes(name))).toEqual([]);
    expect(after).toContain('jobstream_webhooks_total{provider="unknown",outcome="rejected"} 2000');
    // The counter's one new series, nothing per request.
    expect(after.length - before.length).toBeLessThan(200);
  });

  it('answers 404 to an unknown token before the client has sent its deeply nested 1 MiB body (was: read and parsed it first, 0.21 s each)', async () => {
    const { server, hookUrl } = await withJob();
    const depth = 512 * 1024;
    const body = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const { port } = new URL(server.url);
    const path = new URL(hookUrl).pathname.replace(/\.[^.]+$/, '.wrong-secret');
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    await once(socket, 'connect');
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    // A sixteenth of the body; the rest is held back until the answer came.
    socket.write(body.subarray(0, 64 * 1024));
    const head = await readUntil(socket, (text) => text.includes('\r\n\r\n') && text.includes('UNKNOWN_WEBHOOK_TOKEN'), 5000, 'answer before the body was complete');
    expect(head.startsWith('HTTP/1.1 404')).toBe(true);

    // The server discards the rest unread and keeps serving this connection.
    socket.write(body.subarray(64 * 1024));
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const next = await readUntil(socket, (text) => /\r\n\r\n[^]*"status"/.test(text), 5000, 'answer to a second request on the connection');
    expect(next.startsWith('HTTP/1.1 200')).toBe(true);
  });

  it('answers 404 to an unknown token or provider whatever the body: not JSON, or too large (was: 400 or 413 before the token was checked)', async () => {
    const { server, job, hookUrl } = await withJob();
    const wrongSecret = hookUrl.replace(/\.[^.]+$/, '.wrong-secret');
    const otherProvider = hookUrl.replace('/hooks/fake/', '/hooks/nope/');
    for (const url of [wrongSecret, otherProvider]) {
      for (const body of ['{"id": "ext-1", "status": ', 'x'.repeat(2 * 1024 * 1024)]) {
        const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        expect(res.status, `${url} with ${body.length} bytes`).toBe(404);
        expect(await res.json()).toMatchObject({ error: { code: 'UNKNOWN_WEBHOOK_TOKEN' } });
      }
    }
    // The real token still reads its body first: 400 for one that is not JSON.
    const bad = await fetch(hookUrl, { method: 'POST', body: '{"id": ', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(server.engine.get(job.id)?.version).toBe(job.version);
  });

  it('counts a webhook body the adapter does not recognise (kie.ai-style surprise): it changes nothing, asks for a poll, and /metrics says so per provider', async () => {
    const { server, api, job, hookUrl, provider } = await withJob();
    const before = provider.polls;
    const res = await fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'ext-1', unrecognised: true }) });
    expect(await res.json()).toMatchObject({ outcome: 'duplicate', jobId: job.id, version: job.version });
    expect(server.engine.get(job.id)).toMatchObject({ version: job.version, status: job.status });
    const text = await metricsOf(api);
    expect(text).toMatch(/^jobstream_webhooks_unrecognised_total\{provider="fake"\} 1$/m);
    await expect.poll(() => provider.polls).toBeGreaterThan(before);
  });
});
