import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../../src/server/logger.js';
import type { RunningServer } from '../../src/server/server.js';
import { ProviderError } from '../../src/streams/errors.js';
import { MemoryStore, type StoredJob } from '../../src/streams/job-store.js';
import { tokenOf } from '../support/fake-provider.js';
import { TestProcess } from '../support/processes.js';
import { RawWsPeer } from '../support/raw-ws-peer.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

/** One parsed JSON log line. */
type Line = Record<string, unknown> & { level: string; msg: string; time: string };

/** A logger writing into memory, and the lines it wrote, parsed; tests wait on them. */
class LogCapture {
  readonly lines: Line[] = [];
  /** Lines that were not one JSON object each. */
  readonly malformed: string[] = [];
  text = '';
  readonly logger: Logger;
  #wake = new Set<() => void>();

  constructor(level: LogLevel = 'debug', format: LogFormat = 'json') {
    const destination = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.#take(chunk.toString('utf8'), format);
        done();
      },
    });
    this.logger = createLogger({ level, format, destination });
  }

  /** Resolves with the first line (already written or to come) that `match` accepts. */
  async next(match: (line: Line) => boolean, timeoutMs = 5000): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching log line within ${timeoutMs} ms; got:\n${this.text}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  withMsg(msg: string): Line[] {
    return this.lines.filter((line) => line.msg === msg);
  }

  #take(text: string, format: LogFormat): void {
    this.text += text;
    if (format === 'json') {
      for (const raw of text.split('\n').filter((l) => l !== '')) {
        try {
          this.lines.push(JSON.parse(raw) as Line);
        } catch {
          this.malformed.push(raw);
        }
      }
    }
    for (const wake of [...this.#wake]) wake();
    this.#wake.clear();
  }
}

const servers: RunningServer[] = [];
const peers: RawWsPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(() => TestProcess.killAll());

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const capture = new LogCapture();
  const started = await startTestServer({ ...options, logger: capture.logger });
  servers.push(started.server);
  return { ...started, capture };
}

const submit = (server: RunningServer) =>
  server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });

/** Every line is one JSON object with level, time and msg; no secret appears anywhere. */
function expectCleanJson(capture: LogCapture, secrets: readonly string[]): void {
  expect(capture.malformed).toEqual([]);
  for (const line of capture.lines) {
    expect(typeof line.level).toBe('string');
    expect(Number.isNaN(Date.parse(line.time))).toBe(false);
    expect(typeof line.msg).toBe('string');
  }
  for (const secret of secrets) expect(capture.text).not.toContain(secret);
}

describe('server logs (JSON lines)', () => {
  it('logs start (URL, data directory, providers) and stop, never the API token', async () => {
    const { server, capture } = await setup();
    const started = capture.withMsg('server listening');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ level: 'info', url: server.url, publicUrl: server.url, providers: ['fake'] });
    expect(started[0]!.dataDir).toEqual(expect.any(String));
    await server.close();
    expect(capture.lines.map((line) => line.msg).slice(-2)).toEqual(['server stopping: finishing writes and closing connections', 'server stopped']);
    expectCleanJson(capture, [TOKEN]);
  });

  it('logs a webhook rejected for an unknown token (404) with provider, status and code, not the token or the body', async () => {
    const { server, capture } = await setup();
    const secret = 'job_0123456789abcdef.ffeeddccbbaa99887766554433221100';
    const res = await fetch(`${server.url}/v1/hooks/fake/${secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ext-1', status: 'DONE', note: 'body-marker-do-not-log' }),
    });
    expect(res.status).toBe(404);
    const line = await capture.next((l) => l.msg === 'webhook rejected');
    expect(line).toMatchObject({ level: 'warn', provider: 'fake', status: 404, code: 'UNKNOWN_WEBHOOK_TOKEN', method: 'POST', path: '/v1/hooks/fake/[redacted]' });
    expect(line.reason).toEqual(expect.any(String));
    expectCleanJson(capture, [secret, 'ffeeddccbbaa99887766554433221100', 'body-marker-do-not-log', TOKEN]);
  });

  it("logs a malformed webhook for a real job (400) with the reason, not the job's token or the body", async () => {
    const { server, provider, capture } = await setup();
    await submit(server);
    const token = tokenOf(provider.created[0]!.webhookUrl);
    const res = await fetch(`${server.url}/v1/hooks/fake/${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ext-1', status: 'NOT-A-STATUS', note: 'body-marker-do-not-log' }),
    });
    expect(res.status).toBe(400);
    const line = await capture.next((l) => l.msg === 'webhook rejected');
    expect(line).toMatchObject({ level: 'warn', provider: 'fake', status: 400, code: 'INVALID_WEBHOOK', path: '/v1/hooks/fake/[redacted]' });
    expect(String(line.reason)).toContain('unknown status');
    expectCleanJson(capture, [token, token.split('.')[1]!, 'body-marker-do-not-log', TOKEN]);
  });

  it('logs a provider outage (polls answered 503) once with its lane, then its recovery', async () => {
    const { server, provider, capture } = await setup();
    const unavailable = () => new ProviderError('fake', 'unavailable', 'fake answered 503: Service Unavailable', { status: 503 });
    provider.failures.push({ on: 'poll', error: unavailable() }, { on: 'poll', error: unavailable() }, { on: 'poll', error: unavailable() });
    await submit(server);
    const recovered = await capture.next((l) => l.msg === 'provider recovered');
    const outages = capture.withMsg('provider outage: lane backing off');
    expect(outages).toHaveLength(1);
    expect(outages[0]).toMatchObject({ level: 'warn', provider: 'fake', lane: 'fake:key-1' });
    expect(String(outages[0]!.reason)).toContain('503');
    expect(Number.isNaN(Date.parse(String(outages[0]!.until)))).toBe(false);
    expect(recovered).toMatchObject({ level: 'info', provider: 'fake', lane: 'fake:key-1', cause: 'unavailable', failures: 3 });
    expect(capture.lines.indexOf(outages[0]!)).toBeLessThan(capture.lines.indexOf(recovered));
    expectCleanJson(capture, [TOKEN]);
  });

  it('logs a rate-limit block (429, Retry-After) with the lane and until when', async () => {
    const { server, provider, capture } = await setup();
    provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'rate-limited', 'fake answered 429', { status: 429, retryAfterMs: 40 }) });
    const before = Date.now();
    await submit(server);
    const block = await capture.next((l) => l.msg === 'provider rate limit: lane blocked');
    expect(block).toMatchObject({ level: 'warn', provider: 'fake', lane: 'fake:key-1', retryAfterMs: 40 });
    expect(Date.parse(String(block.until))).toBeGreaterThanOrEqual(before + 40);
    await capture.next((l) => l.msg === 'provider rate limit lifted');
    expect(capture.withMsg('provider rate limit: lane blocked')).toHaveLength(1);
    expectCleanJson(capture, [TOKEN]);
  });

  it('logs a store write that failed (a full disk) as an error, then the recovery', async () => {
    /** A store whose next append fails as a full disk would, once. */
    class FullOnceStore extends MemoryStore {
      #failures = 1;
      override append(batch: readonly StoredJob[]): Promise<void> {
        if (this.#failures-- > 0) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        return super.append(batch);
      }
    }
    const { server, capture } = await setup({ store: new FullOnceStore() });
    // The submission may be refused while the store fails; the log is what this test reads.
    await submit(server).catch(() => undefined);
    const failed = await capture.next((l) => l.msg === 'store write failed; retrying');
    expect(failed).toMatchObject({ level: 'error', attempt: 1 });
    expect((failed.err as { message: string }).message).toContain('ENOSPC');
    const recovered = await capture.next((l) => l.msg === 'store writes recovered');
    expect(recovered).toMatchObject({ level: 'info', attempts: 1 });
    expect(recovered.downMs).toEqual(expect.any(Number));
    expectCleanJson(capture, [TOKEN]);
  });

  it('logs a dead WebSocket peer (no pong) dropped, with its address', async () => {
    const { server, capture } = await setup({ ws: { heartbeatMs: 40 } });
    const peer = await RawWsPeer.open(`${server.url.replace('http', 'ws')}/v1/stream`, TOKEN);
    peers.push(peer);
    peer.stopReading();
    const line = await capture.next((l) => l.msg === 'websocket client dropped: no heartbeat answer');
    expect(line).toMatchObject({ level: 'warn', reason: 'dead-peer', address: '127.0.0.1', port: peer.socket.localPort });
    expect(line.closeCode).toBeUndefined();
    expectCleanJson(capture, [TOKEN]);
  });

  it('logs a slow WebSocket client (stopped reading) dropped with 1013, with the reason and its address', async () => {
    const { server, provider, capture } = await setup({ ws: { lagBytes: 16 * 1024, dropBytes: 32 * 1024 * 1024, lagTimeoutMs: 200, heartbeatMs: 60_000 } });
    const peer = await RawWsPeer.open(`${server.url.replace('http', 'ws')}/v1/stream`, TOKEN);
    peers.push(peer);
    peer.sendText('{"type":"subscribe","sub":"s"}');
    await peer.waitFor('"type":"snapshot"');
    peer.stopReading();
    // Changes of ~64 KiB each until the peer lags past lagTimeoutMs and is dropped (loopback
    // socket buffers take a few MiB first).
    const job = await server.engine.submit({
      provider: 'fake',
      kind: 'transcription',
      input: { type: 'url', url: 'https://example.com/a.wav' },
      metadata: { notes: 'x'.repeat(64 * 1024) },
    });
    const token = tokenOf(provider.created.at(-1)!.webhookUrl);
    const deadline = Date.now() + 10_000;
    for (let step = 1; step < 3000 && Date.now() < deadline && server.hub.stats.droppedSlowClients === 0; step++) {
      await server.engine.ingestWebhook({ provider: 'fake', token, body: { id: job.externalId, status: 'WORKING', progress: step / 3000 } });
      await new Promise((resolve) => setImmediate(resolve));
    }
    const line = await capture.next((l) => l.msg === 'websocket client dropped: not reading');
    expect(line).toMatchObject({ level: 'warn', closeCode: 1013, address: '127.0.0.1', port: peer.socket.localPort });
    expect(['slow-consumer', 'lag-timeout']).toContain(line.reason);
    expect(line.bufferedBytes).toEqual(expect.any(Number));
    expectCleanJson(capture, [TOKEN, token]);
  });

  it('redacts tokens, API keys, secrets, authorization headers and webhook tokens in paths wherever a line has them', () => {
    const capture = new LogCapture('info');
    capture.logger.info(
      {
        token: 'tok-secret-1',
        apiKey: 'key-secret-2',
        provider: { apiKey: 'key-secret-3', secret: 'secret-4' },
        headers: { authorization: 'Bearer tok-secret-5', 'x-api-key': 'key-secret-6' },
        req: { url: '/v1/hooks/klangio/job_1.secret-7?token=tok-secret-8', headers: { authorization: 'Bearer tok-secret-9' } },
        url: 'https://user:password-10@example.com/v1/hooks/sunoapi/job_2.secret-11',
        path: '/v1/hooks/fake/job_3.secret-12',
      },
      'a line carrying secrets',
    );
    const [line] = capture.lines;
    expect(line).toMatchObject({
      token: '[redacted]',
      apiKey: '[redacted]',
      provider: { apiKey: '[redacted]', secret: '[redacted]' },
      headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' },
      req: { url: '/v1/hooks/klangio/[redacted]?token=[redacted]', headers: { authorization: '[redacted]' } },
      url: 'https://[redacted]@example.com/v1/hooks/sunoapi/[redacted]',
      path: '/v1/hooks/fake/[redacted]',
    });
    expect(capture.text).not.toMatch(/secret-\d/);
  });

  it('writes one readable line per event in pretty mode', () => {
    const capture = new LogCapture('info', 'pretty');
    capture.logger.warn({ provider: 'fake', lane: 'fake:key-1', token: 'tok-secret' }, 'provider outage: lane backing off');
    expect(capture.text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: provider outage: lane backing off \{.*"lane":"fake:key-1".*\}\n$/);
    expect(capture.text).not.toContain('tok-secret');
  });
});

describe('jobstream serve logs', () => {
  it('writes only JSON lines to stdout (start, a rejected webhook, stop) without the token or API keys', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-logging-'));
    try {
      const apiKey = 'klangio-api-key-do-not-log';
      const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir], {
        JOBSTREAM_TOKEN: TOKEN,
        JOBSTREAM_LOG_LEVEL: 'info',
        KLANGIO_API_KEY: apiKey,
        KLANGIO_BASE_URL: 'http://127.0.0.1:9',
        MUSICAI_API_KEY: '',
        SUNOAPI_API_KEY: '',
        CAMBAI_API_KEY: '',
      });
      const url = await serve.waitForListening();
      expect(await serve.waitForLog('server listening')).toMatchObject({ level: 'info', providers: ['klangio'], dataDir });
      const hookSecret = 'job_0123456789abcdef.00112233445566778899aabbccddeeff';
      const res = await fetch(`${url}/v1/hooks/klangio/${hookSecret}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(404);
      expect(await serve.waitForLog('webhook rejected')).toMatchObject({ level: 'warn', provider: 'klangio', status: 404 });
      expect(await serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(serve.logs.map((line) => line.msg).at(-1)).toBe('server stopped');
      expect(serve.logs).toHaveLength(serve.lines.length);
      const stdout = serve.lines.join('\n');
      for (const secret of [TOKEN, apiKey, hookSecret, '00112233445566778899aabbccddeeff']) expect(stdout).not.toContain(secret);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
