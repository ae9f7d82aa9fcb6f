import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderJobRef, ResultDownload, ResultFile } from '../../src/streams/provider-port.js';
import type { RunningServer } from '../../src/server/server.js';
import type { JsonValue } from '../../src/streams/job-snapshot.js';
import { FakeProvider } from '../support/fake-provider.js';
import { startTestServer } from '../support/test-server.js';

/** A result file name with everything a header must not carry raw: quotes, a backslash, a slash, CR LF, non-ASCII. */
const HOSTILE_NAME = 'Grüße "live"\\..\r\nSet-Cookie: a=1/x.mid';

/** The fake provider, offering one result file under {@link HOSTILE_NAME}. */
class OddNames extends FakeProvider {
  override resultFiles(_job: ProviderJobRef, result: JsonValue): ResultFile[] {
    return typeof result === 'string' ? [{ name: HOSTILE_NAME, contentType: 'audio/midi' }] : [];
  }

  override download(): Promise<ResultDownload> {
    return Promise.resolve({ contentType: 'audio/midi', body: Readable.from([Buffer.from('MThd')]) });
  }
}

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function succeededJob() {
  const started = await startTestServer({ provider: new OddNames() });
  servers.push(started.server);
  const engine = started.server.engine;
  const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
  started.provider.set('ext-1', 'DONE', { result: 'notes' });
  await engine.waitFor(job.id, { timeoutMs: 5000 });
  return { ...started, job };
}

describe('download headers', () => {
  it('sends X-Content-Type-Options: nosniff on every answer: downloads, JSON, errors, 404s and /healthz (was: on none)', async () => {
    const { server, api, job } = await succeededJob();
    const answers = [
      await api(`/v1/jobs/${job.id}/results/${encodeURIComponent(HOSTILE_NAME)}`),
      await api(`/v1/jobs/${job.id}`),
      await api('/v1/jobs/job_missing'),
      await api('/no/such/route'),
      await fetch(`${server.url}/v1/jobs`),
      await fetch(`${server.url}/healthz`),
      await fetch(`${server.url}/v1/hooks/fake/job_x.nope`, { method: 'POST', body: '{}' }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 404, 404, 401, 200, 404]);
    for (const answer of answers) {
      expect(answer.headers.get('x-content-type-options'), answer.url).toBe('nosniff');
      await answer.arrayBuffer();
    }
  });

  it('names a download with a clean quoted ASCII fallback and a UTF-8 filename* (was: the raw name in quotes, CR LF replaced only)', async () => {
    const { api, job } = await succeededJob();
    const answer = await api(`/v1/jobs/${job.id}/results/${encodeURIComponent(HOSTILE_NAME)}`);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('MThd');
    const disposition = answer.headers.get('content-disposition')!;
    expect(disposition).toBe(
      `attachment; filename="Gr__e _live__..__Set-Cookie: a=1_x.mid"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22live%22_..__Set-Cookie%3A%20a%3D1_x.mid`,
    );
  });
});
