import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksCommand } from '../../src/cli/webhooks-command.js';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

let server: RunningServer;
let inbox: WebhookReceiver;
beforeAll(async () => {
  ({ server } = await startTestServer({ webhooks: { allowPrivateTargets: true, backoffBaseMs: 5, backoffCapMs: 20 } }));
  inbox = await WebhookReceiver.start();
});
afterAll(async () => {
  await server.close();
  await inbox.close();
});

/** Runs `jobstream webhooks <args>` against the test server; its output. */
async function webhooks(...args: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const code = await webhooksCommand([...args, '--server', server.url, '--token', TOKEN, '--data', '/nonexistent/jobstream-data'], out);
  return { code, text };
}

describe('jobstream webhooks', () => {
  it('adds an endpoint (printing its secret once), lists it, shows its deliveries, replays one and removes it', async () => {
    const added = await webhooks('add', inbox.url, '--filter', '{"kinds":["transcription"]}', '--description', 'from the CLI');
    expect(added.code).toBe(0);
    const [, id] = /^added (whe_\w+) → /m.exec(added.text) ?? [];
    expect(id).toBeDefined();
    expect(added.text).toMatch(/signing secret \(shown once; keep it with the receiver\): whsec_/);

    const listed = await webhooks('list');
    expect(listed.text).toMatch(new RegExp(`${id}\\s+enabled\\s+0\\s+${inbox.url.replace(/[.]/g, '\\.')}\\s+from the CLI`));
    expect(listed.text).not.toContain('whsec_');

    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    const version = server.engine.get(job.id)!.version;
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.id === job.id && p.data.job.version === version), 'the job at its version');
    await expect.poll(async () => (await webhooks('deliveries', id!)).text).toMatch(new RegExp(`dlv_\\d+\\s+${job.id}\\s+${version}\\s+delivered\\s+1\\s+200 in \\d+ ms`));

    const json = JSON.parse((await webhooks('deliveries', id!, '--json')).text) as { deliveries: { id: string; version: number }[] };
    const last = json.deliveries.find((d) => d.version === version)!;
    const replay = await webhooks('replay', id!, last.id);
    expect(replay.text).toMatch(new RegExp(`^replaying ${job.id} v${version} as dlv_\\d+ \\(webhook-id ${job.id}\\.v${version}\\.replay-\\d+\\)`));
    await inbox.until(() => inbox.received.some((r) => String(r.headers['webhook-id']).includes('.replay-')), 'the replay');

    expect((await webhooks('rm', id!)).text).toBe(`removed ${id}\n`);
    expect((await webhooks('list')).text).toMatch(/^no webhook endpoints/);
  });

  it('says what is wrong with bad usage and with what the server refuses', async () => {
    await expect(webhooks('frobnicate')).rejects.toThrow(/unknown subcommand "frobnicate"/);
    await expect(webhooks('add')).rejects.toThrow(/usage: jobstream webhooks add <url>/);
    await expect(webhooks('add', inbox.url, '--filter', '{nope')).rejects.toThrow(/--filter must be JSON/);
    await expect(webhooks('add', inbox.url, '--filter', '{"statuses":["sleeping"]}')).rejects.toThrow(/--filter is not a job filter: statuses.0/);
    await expect(webhooks('add', 'ftp://example.com/x')).rejects.toThrow(/url must use http or https, not ftp/);
    await expect(webhooks('rm', 'whe_none')).rejects.toThrow(/no webhook endpoint whe_none/);
  });
});
