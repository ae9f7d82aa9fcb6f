import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer } from '../support/test-server.js';
import { tokenOf } from '../support/fake-provider.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const post = (body: string): RequestInit => ({ method: 'POST', body, headers: { 'content-type': 'application/json' } });
const urlJob = '"provider":"fake","kind":"transcription","input":{"type":"url","url":"https://example.com/a.wav"}';

describe('deeply nested JSON over HTTP (issue #10, point 9d)', () => {
  it('POST /v1/jobs with 3,000-deep options is a 400 naming the field (was a 500 with a stack trace), and the server goes on', async () => {
    const { server, api } = await startTestServer();
    servers.push(server);
    const res = await api('/v1/jobs', post(`{${urlJob},"options":{"model":${nested(3000)}}}`));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; issues: { field: string; reason: string }[] } };
    expect(body.error.code).toBe('INVALID_REQUEST');
    expect(body.error.issues).toEqual([{ field: 'options.model', reason: expect.stringMatching(/^nested deeper than \d+ levels$/) }]);

    // Just past the limit for stored values, well inside what a body may nest: the schema's 400.
    const field = await api('/v1/jobs', post(`{${urlJob},"options":{"model":${nested(65)}}}`));
    expect(field.status).toBe(400);
    expect(await field.json()).toMatchObject({ error: { issues: [{ field: 'options.model', reason: 'nested deeper than 64 levels' }] } });

    expect((await api('/v1/jobs', post(`{${urlJob},"options":{"model":${nested(64)}}}`))).status).toBe(201);
  });

  it('a webhook body nested 100,000 deep is refused with a 400 before any adapter (or zod) walks it', async () => {
    const { server, api, provider } = await startTestServer();
    servers.push(server);
    await api('/v1/jobs', post(`{${urlJob}}`));
    const token = tokenOf(provider.created[0]?.webhookUrl);
    const res = await fetch(`${server.url}/v1/hooks/fake/${token}`, post(`{"id":"ext-1","status":"DONE","result":${nested(100_000)}}`));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_WEBHOOK', message: expect.stringContaining('nested deeper than 128 levels (at result.0)') } });
  });
});
