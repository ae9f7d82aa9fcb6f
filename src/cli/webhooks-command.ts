import { parseArgs } from 'node:util';
import { z } from 'zod';
import { WebhookDelivery, WebhookEndpoint } from '../server/outbound/webhook-protocol.js';
import { JobFilter } from '../streams/job-filter.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions } from './client-connection.js';
import { openServer } from './server-requests.js';
import { columnsOf, padColumns, printable } from './terminal-text.js';

export const WEBHOOKS_HELP = `Usage: jobstream webhooks <list|add|rm|deliveries|replay> [arguments] [options]

Manages the server's outbound webhook endpoints: each matching job change is POSTed to the
endpoint as JSON, signed the Standard Webhooks way (webhook-id, webhook-timestamp,
webhook-signature), retried with backoff, in version order per job.

Subcommands:
  list                              the endpoints, their state and pending deliveries
  add <url> [--filter <json>] [--description <text>]
                                    register an endpoint; prints its signing secret (once)
  rm <endpoint id>                  remove an endpoint and its deliveries
  deliveries <endpoint id>          its delivery log, newest first (--limit n, default 20)
  replay <endpoint id> <delivery id>
                                    send that delivery's job again, in its current version

Options:
  --json                print JSON instead of a table
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream webhooks add https://example.com/hooks/jobstream --filter '{"statuses":["succeeded","failed"]}'
  jobstream webhooks deliveries whe_3f9c… --limit 50
  jobstream webhooks replay whe_3f9c… dlv_42`;

const Endpoints = z.object({ endpoints: z.array(WebhookEndpoint) });
const Created = z.object({ endpoint: WebhookEndpoint, secret: z.string() });
const Deliveries = z.object({ deliveries: z.array(WebhookDelivery), next: z.string().optional() });
const Replayed = z.object({ delivery: WebhookDelivery });

/**
 * `jobstream webhooks …`. Exit codes: 0 done, 1 the server refused or cannot be reached, 2 bad usage.
 *
 * @example await webhooksCommand(['add', 'https://example.com/hook'], process.stdout)
 */
export async function webhooksCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...connectionOptions, json: { type: 'boolean' }, filter: { type: 'string' }, description: { type: 'string' }, limit: { type: 'string' } },
  });
  if (values.help === true) return void out.write(`${WEBHOOKS_HELP}\n`), 0;
  const [sub, ...args] = positionals;
  const want = (n: number, usage: string): void => {
    if (args.length !== n) throw new UsageError(`usage: jobstream webhooks ${usage}`);
  };
  const json = values.json === true;
  const print = (value: unknown): void => void out.write(`${JSON.stringify(value, null, 2)}\n`);
  switch (sub) {
    case 'list': {
      want(0, 'list');
      const { endpoints } = await (await openServer(values)).json('GET', '/v1/webhooks', Endpoints);
      if (json) return print({ endpoints }), 0;
      if (endpoints.length === 0) return void out.write('no webhook endpoints (add one: jobstream webhooks add <url>)\n'), 0;
      const rows = [['ID', 'STATE', 'PENDING', 'URL', 'DESCRIPTION'], ...endpoints.map((e) => [e.id, e.enabled ? 'enabled' : `disabled (${e.disabledReason ?? 'by request'})`, String(e.pending), e.url, e.description ?? ''])];
      out.write(table(rows));
      return 0;
    }
    case 'add': {
      want(1, 'add <url> [--filter <json>] [--description <text>]');
      let filter: JobFilter | undefined;
      if (values.filter !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(values.filter) as unknown;
        } catch {
          throw new UsageError('--filter must be JSON, e.g. \'{"statuses":["succeeded"]}\'');
        }
        const checked = JobFilter.safeParse(parsed);
        if (!checked.success) throw new UsageError(`--filter is not a job filter: ${checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
        filter = checked.data;
      }
      const body = { url: args[0], ...(filter === undefined ? {} : { filter }), ...(values.description === undefined ? {} : { description: values.description }) };
      const created = await (await openServer(values)).json('POST', '/v1/webhooks', Created, body);
      if (json) return print(created), 0;
      out.write(`added ${created.endpoint.id} → ${printable(created.endpoint.url)}\nsigning secret (shown once; keep it with the receiver): ${created.secret}\n`);
      return 0;
    }
    case 'rm': {
      want(1, 'rm <endpoint id>');
      await (await openServer(values)).request('DELETE', `/v1/webhooks/${encodeURIComponent(args[0] as string)}`);
      if (!json) out.write(`removed ${printable(args[0] as string)}\n`);
      return 0;
    }
    case 'deliveries': {
      want(1, 'deliveries <endpoint id> [--limit n]');
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be a whole number from 1 to 500');
      const page = await (await openServer(values)).json('GET', `/v1/webhooks/${encodeURIComponent(args[0] as string)}/deliveries?limit=${limit}`, Deliveries);
      if (json) return print(page), 0;
      if (page.deliveries.length === 0) return void out.write('no deliveries yet\n'), 0;
      const rows = [
        ['DELIVERY', 'JOB', 'VERSION', 'STATUS', 'ATTEMPTS', 'LAST ANSWER', 'NEXT TRY'],
        ...page.deliveries.map((d) => {
          const last = d.attempts.at(-1);
          const answer = last === undefined ? '' : last.statusCode !== undefined ? `${last.statusCode} in ${Math.round(last.latencyMs)} ms` : (last.error ?? '');
          return [d.id, d.jobId, String(d.version), d.status === 'collapsed' ? `collapsed into ${d.collapsedInto ?? '?'}` : d.status, String(d.attemptCount), answer, d.nextAttemptAt === null ? '' : new Date(d.nextAttemptAt).toISOString()];
        }),
      ];
      out.write(table(rows));
      return 0;
    }
    case 'replay': {
      want(2, 'replay <endpoint id> <delivery id>');
      const [endpoint, delivery] = args as [string, string];
      const replayed = await (await openServer(values)).json('POST', `/v1/webhooks/${encodeURIComponent(endpoint)}/deliveries/${encodeURIComponent(delivery)}/replay`, Replayed);
      if (json) return print(replayed), 0;
      out.write(`replaying ${printable(replayed.delivery.jobId)} v${replayed.delivery.version} as ${replayed.delivery.id} (webhook-id ${printable(replayed.delivery.webhookId)})\n`);
      return 0;
    }
    case undefined:
      throw new UsageError('name a subcommand: list, add, rm, deliveries or replay (see jobstream webhooks --help)');
    default:
      throw new UsageError(`unknown subcommand "${sub}": list, add, rm, deliveries or replay (see jobstream webhooks --help)`);
  }
}

/** Rows as aligned columns (the last one unpadded), control characters made printable. */
function table(rows: readonly string[][]): string {
  const clean = rows.map((row) => row.map(printable));
  const widths = (clean[0] ?? []).map((_, i) => Math.max(...clean.map((row) => columnsOf(row[i] ?? ''))));
  return clean.map((row) => row.map((cell, i) => (i < row.length - 1 ? padColumns(cell, widths[i] ?? 0) : cell)).join('  ').trimEnd()).join('\n') + '\n';
}
