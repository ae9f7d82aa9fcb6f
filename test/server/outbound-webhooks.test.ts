import { Hono } from 'hono';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { errorResponse } from '../../src/server/api-error.js';
import { webhookEndpointRoutes } from '../../src/server/outbound/webhook-endpoint-routes.js';
import type { RunningServer } from '../../src/server/server.js';
import { ConfigError, loadServerConfig } from '../../src/server/server-config.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../src/server/outbound/webhook-protocol.js';
import { JobChangedPayload } from '../../src/server/outbound/webhook-protocol.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { tokenOf, type FakeProvider } from '../support/fake-provider.js';
import { startTestServer } from '../support/test-server.js';
import { WebhookReceiver, type ReceiverPolicy } from '../support/webhook-receiver.js';

const servers: RunningServer[] = [];
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

/** Short backoff: retries within milliseconds, so a test waits on the receiver, never on a clock. */
const FAST = { allowPrivateTargets: true, backoffBaseMs: 5, backoffCapMs: 20, timeoutMs: 2000 };

async function setup(webhooks: NonNullable<Parameters<typeof startTestServer>[0]>['webhooks'] = FAST) {
  const started = await startTestServer({ webhooks });
  servers.push(started.server);
  const { server, provider, api } = started;
  const submit = (metadata: Record<string, string> = {}) =>
    server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, metadata });
  const json = (method: string, path: string, body?: unknown) =>
    api(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  const register = async (url: string, extra: object = {}) => {
    const response = await json('POST', '/v1/webhooks', { url, ...extra });
    expect(response.status).toBe(201);
    return (await response.json()) as { endpoint: WebhookEndpoint; secret: string };
  };
  const deliveries = async (id: string) => ((await (await api(`/v1/webhooks/${id}/deliveries?limit=500`)).json()) as { deliveries: WebhookDelivery[] }).deliveries;
  return { ...started, submit, json, register, deliveries, hook: hookOf(server, provider) };
}

async function receiver(policy?: ReceiverPolicy) {
  const started = await WebhookReceiver.start(policy);
  receivers.push(started);
  return started;
}

/** Delivers a fake-provider webhook for a job. */
function hookOf(server: RunningServer, provider: FakeProvider) {
  return (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) => {
    const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
    return server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status, ...extra } });
  };
}

describe('outbound webhooks: registration', () => {
  it('answers the secret once, signs every delivery so that standardwebhooks verifies it, and sends the documented payload', async () => {
    const { register, submit, hook, api } = await setup();
    const inbox = await receiver();
    const { endpoint, secret } = await register(inbox.url, { description: 'ci', filter: { kinds: ['transcription'] } });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toMatchObject({ url: inbox.url, enabled: true, description: 'ci', source: 'api', filter: { kinds: ['transcription'] } });
    // Never again: not in the list, not in the endpoint.
    const listed = await (await api('/v1/webhooks')).text();
    const one = await (await api(`/v1/webhooks/${endpoint.id}`)).text();
    expect(listed).not.toContain(secret.slice(6));
    expect(one).not.toContain(secret.slice(6));
    expect(JSON.parse(one)).toMatchObject({ id: endpoint.id });

    const job = await submit();
    await hook(job, 'DONE', { result: 'r' });
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.status === 'succeeded'), 'the succeeded version');
    const verifier = new Webhook(secret);
    for (const request of inbox.received) {
      const headers = { 'webhook-id': String(request.headers['webhook-id']), 'webhook-timestamp': String(request.headers['webhook-timestamp']), 'webhook-signature': String(request.headers['webhook-signature']) };
      const payload = JobChangedPayload.parse(verifier.verify(request.body, headers));
      expect(headers['webhook-id']).toBe(`${payload.data.job.id}.v${payload.data.job.version}`);
      expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(request.headers['content-type']).toBe('application/json');
      // A changed body does not verify.
      expect(() => verifier.verify(request.body.replace('"job.changed"', '"job.change"'), headers)).toThrow();
    }
    const last = JobChangedPayload.parse(JSON.parse(inbox.received.at(-1)!.body));
    expect(last).toMatchObject({ type: 'job.changed', data: { job: { id: job.id, status: 'succeeded' }, previousStatus: 'queued', epoch: expect.any(String) } });
    expect(last.data.seq).toBeGreaterThan(0);
  });

  it('refuses a bad URL with a clear 400', async () => {
    const { json } = await setup({ backoffBaseMs: 5 });
    const cases: [unknown, RegExp][] = [
      ['not a url', /not an absolute URL/],
      ['ftp://example.com/hook', /http or https, not ftp/],
      ['http://user:pw@example.com/hook', /credentials/],
      ['http://127.0.0.1:9/hook', /127\.0\.0\.1 is not a public internet address/],
      ['http://10.1.2.3/hook', /10\.1\.2\.3 is not a public internet address/],
      ['http://[::1]/hook', /::1 is not a public internet address/],
      ['http://169.254.169.254/latest', /not a public internet address/],
      ['http://localhost:8080/hook', /localhost is not a public internet address/],
    ];
    for (const [url, message] of cases) {
      const response = await json('POST', '/v1/webhooks', { url });
      expect(response.status, String(url)).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string; issues: { field: string }[] } };
      expect(body.error.code).toBe('INVALID_WEBHOOK_URL');
      expect(body.error.message).toMatch(message);
      expect(body.error.issues[0]?.field).toBe('url');
    }
    for (const body of [{ url: 42 }, { url: 'https://example.com', filter: { statuses: ['sleeping'] } }, { url: 'https://example.com', surprise: 1 }, {}]) {
      const response = await json('POST', '/v1/webhooks', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { error: { code: string; issues: unknown[] } }).error).toMatchObject({ code: 'INVALID_REQUEST', issues: expect.any(Array) });
    }
    expect((await json('PATCH', '/v1/webhooks/whe_none', { enabled: true })).status).toBe(404);
    expect((await json('GET', '/v1/webhooks/whe_none/deliveries')).status).toBe(404);
    expect((await json('GET', '/v1/webhooks/whe_none/deliveries?limit=0')).status).toBe(400);
  });

  it('refuses scoped read tokens with 403 on every webhook route', async () => {
    const { server, register } = await setup();
    const inbox = await receiver();
    const { endpoint } = await register(inbox.url);
    const { token } = server.mintToken({ metadata: { userId: '42' } });
    const scoped = (method: string, path: string) => fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{"url":"http://127.0.0.1:1/x"}' }) });
    for (const [method, path] of [
      ['GET', '/v1/webhooks'],
      ['POST', '/v1/webhooks'],
      ['GET', `/v1/webhooks/${endpoint.id}`],
      ['PATCH', `/v1/webhooks/${endpoint.id}`],
      ['DELETE', `/v1/webhooks/${endpoint.id}`],
      ['GET', `/v1/webhooks/${endpoint.id}/deliveries`],
      ['POST', `/v1/webhooks/${endpoint.id}/deliveries/dlv_1/replay`],
    ] as const) {
      const response = await scoped(method, path);
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('SCOPE_FORBIDDEN');
    }
  });
});

describe('outbound webhooks: delivery', () => {
  it('retries a receiver that fails its first attempts: every job ends with its final version exactly once, versions in order', async () => {
    const { register, submit, hook, deliveries, api } = await setup();
    // 500 for the first three tries of each webhook-id, then 200.
    const tries = new Map<string, number>();
    const inbox = await receiver((request) => {
      const id = String(request.headers['webhook-id']);
      const n = (tries.get(id) ?? 0) + 1;
      tries.set(id, n);
      return n <= 3 ? 500 : 200;
    });
    const { endpoint } = await register(inbox.url);
    const jobs = await Promise.all(Array.from({ length: 5 }, () => submit()));
    for (const job of jobs) await hook(job, 'WORKING', { progress: 0.5 });
    for (const job of jobs) await hook(job, 'DONE', { result: 'r' });
    await inbox.until(() => jobs.every((job) => inbox.accepted().some((p) => p.data.job.id === job.id && p.data.job.status === 'succeeded')), 'every final version');
    for (const job of jobs) {
      // Every request this receiver saw for the job (failed ones too) in version order, never back.
      const versions = inbox.received.map((r) => JSON.parse(r.body) as { data: { job: { id: string; version: number } } }).filter((p) => p.data.job.id === job.id).map((p) => p.data.job.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      const accepted = inbox.accepted().filter((p) => p.data.job.id === job.id);
      const finalVersion = Math.max(...accepted.map((p) => p.data.job.version));
      expect(accepted.filter((p) => p.data.job.version === finalVersion)).toHaveLength(1);
      expect(accepted.at(-1)?.data.job.status).toBe('succeeded');
    }
    // The log: the final versions delivered after four attempts each, with status codes and excerpts.
    // (The receiver counts a request when it answers; the outbox, when it has read the answer.)
    await expect.poll(async () => (await deliveries(endpoint.id)).filter((d) => d.status === 'pending')).toEqual([]);
    const log = await deliveries(endpoint.id);
    const delivered = log.filter((d) => d.status === 'delivered');
    expect(delivered.length).toBeGreaterThanOrEqual(5);
    for (const delivery of delivered) {
      expect(delivery.attemptCount).toBe(4);
      expect(delivery.attempts.map((a) => a.statusCode)).toEqual([500, 500, 500, 200]);
      expect(delivery.attempts[0]).toMatchObject({ n: 1, responseExcerpt: 'answered 500', latencyMs: expect.any(Number) });
      expect(delivery.nextAttemptAt).toBeNull();
    }
    expect(log.every((d) => d.status === 'delivered' || d.status === 'collapsed')).toBe(true);

    // The metrics agree with the log, and name no URL.
    const metrics = await (await api('/metrics')).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('jobstream_outbound_webhook_deliveries_total{outcome="delivered"}')).toBe(delivered.length);
    expect(value('jobstream_outbound_webhook_deliveries_total{outcome="collapsed"}')).toBe(log.filter((d) => d.status === 'collapsed').length);
    expect(value('jobstream_outbound_webhook_failed_attempts_total')).toBe(log.reduce((n, d) => n + d.attempts.filter((a) => a.statusCode === 500).length, 0));
    expect(value('jobstream_outbound_webhook_deliveries_pending')).toBe(0);
    expect(value('jobstream_outbound_webhook_delivery_lag_seconds_count')).toBe(delivered.length);
    expect(metrics).not.toContain('127.0.0.1');
  });
});

describe('outbound webhooks: the env endpoint', () => {
  it('is read from JOBSTREAM_WEBHOOK_URL, _SECRET and _FILTER, with every problem named and the secret never echoed', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const config = loadServerConfig({ JOBSTREAM_WEBHOOK_URL: 'https://example.com/hook/', JOBSTREAM_WEBHOOK_SECRET: secret, JOBSTREAM_WEBHOOK_FILTER: '{"statuses":["succeeded"]}', JOBSTREAM_WEBHOOK_ALLOW_PRIVATE: '1', JOBSTREAM_WEBHOOK_BACKOFF_BASE_MS: '20' });
    expect(config.webhooks).toEqual({
      env: { url: 'https://example.com/hook/', secret, filter: { statuses: ['succeeded'] } },
      allowPrivateTargets: true,
      backoffBaseMs: 20,
      backoffCapMs: 3_600_000,
      giveUpAfterMs: 259_200_000,
      timeoutMs: 10_000,
    });
    expect(loadServerConfig({}).webhooks.env).toBeUndefined();
    const bad = 'whsec_c2hvcnQ=';
    let error: unknown;
    try {
      loadServerConfig({ JOBSTREAM_WEBHOOK_URL: 'ftp://example.com', JOBSTREAM_WEBHOOK_SECRET: bad, JOBSTREAM_WEBHOOK_FILTER: '{"statuses":["sleeping"]}' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('JOBSTREAM_WEBHOOK_URL must be an http(s) URL');
    expect(problems).toContain('JOBSTREAM_WEBHOOK_SECRET: a signing secret holds 24 to 64 random bytes, this one 5');
    expect(problems).toContain('JOBSTREAM_WEBHOOK_FILTER is not a job filter: statuses.0');
    expect(problems).not.toContain(bad);
    expect(() => loadServerConfig({ JOBSTREAM_WEBHOOK_SECRET: secret })).toThrow(/JOBSTREAM_WEBHOOK_SECRET or JOBSTREAM_WEBHOOK_FILTER is set but JOBSTREAM_WEBHOOK_URL is not/);
    expect(() => loadServerConfig({ JOBSTREAM_WEBHOOK_URL: 'https://example.com', JOBSTREAM_WEBHOOK_FILTER: '{nope' })).toThrow(/JOBSTREAM_WEBHOOK_FILTER must be JSON/);
  });

  it('is created at start with the id env, and refused when it names a private address', async () => {
    const inbox = await receiver();
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const { server, api } = await startTestServer({ webhooks: { ...FAST, envEndpoint: { url: inbox.url, secret } } });
    servers.push(server);
    expect(await (await api('/v1/webhooks/env')).json()).toMatchObject({ id: 'env', source: 'env', url: inbox.url, enabled: true });
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    await inbox.until(() => inbox.received.some((r) => String(r.headers['webhook-id']).startsWith(job.id)), 'a delivery to the env endpoint');
    const request = inbox.received[0]!;
    expect(() => new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).not.toThrow();

    await expect(startTestServer({ webhooks: { envEndpoint: { url: 'http://127.0.0.1:9/x' } } })).rejects.toThrow(/JOBSTREAM_WEBHOOK_URL: url host 127\.0\.0\.1 is not a public internet address/);
  });

  it('answers 501 NOT_AVAILABLE_IN_CLUSTER where there is no outbox (a cluster member)', async () => {
    const app = new Hono();
    app.onError((error, c) => errorResponse(c, error));
    app.route('/v1/webhooks', webhookEndpointRoutes({ outbox: undefined, maxJsonBytes: 1024 }));
    for (const [method, path] of [['POST', '/v1/webhooks'], ['GET', '/v1/webhooks'], ['GET', '/v1/webhooks/env/deliveries']] as const) {
      const response = await app.request(path, { method, ...(method === 'POST' ? { body: '{"url":"https://example.com"}' } : {}) });
      expect(response.status).toBe(501);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('NOT_AVAILABLE_IN_CLUSTER');
    }
  });
});
