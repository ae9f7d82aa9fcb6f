import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ClientError } from '../client/client-error.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions } from './client-connection.js';
import { clockTime, duration } from './job-view.js';
import { openServer } from './server-requests.js';
import { columnsOf, padColumns, printable } from './terminal-text.js';

export const PROVIDERS_HELP = `Usage: jobstream providers [options]

Lists the providers the server is configured with: their job kinds and what a cancel does
there. Then, where the server reports it, the health of each credential lane: its rate budget
(requests per second, burst, tokens left), whether it is ok, rate-limited (with the Retry-After
deadline) or in an outage (with the next probe), its failures and its recent errors.

Options:
  --json                print JSON instead: { providers, lanes } (lanes null when the server
                        does not report them)
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream providers
  jobstream providers --json | jq '.lanes[] | select(.state != "ok")'`;

const Providers = z.object({
  providers: z.array(z.object({ name: z.string(), kinds: z.array(z.string()), cancel: z.enum(['provider', 'tracking-only']).optional().catch(undefined) })),
});
/** One credential lane of `GET /v1/providers/health`; numbers a server may leave out are nullable. */
const Lane = z.object({
  lane: z.string(),
  provider: z.string(),
  jobs: z.number().nullable().optional(),
  ratePerSecond: z.number().nullable().optional(),
  burst: z.number().nullable().optional(),
  tokens: z.number().nullable().optional(),
  state: z.string(),
  since: z.number().nullable().optional(),
  blockedUntil: z.number().nullable().optional(),
  nextProbeAt: z.number().nullable().optional(),
  failures: z.number().optional(),
  recentErrors: z.array(z.object({ at: z.number(), kind: z.string(), message: z.string() })).optional(),
});
type Lane = z.infer<typeof Lane>;
const Health = z.object({ lanes: z.array(Lane) });

const CANCEL: Record<string, string> = {
  provider: 'at the provider',
  'tracking-only': 'tracking only',
};

/**
 * `jobstream providers`. Lane health comes from `GET /v1/providers/health`; a server without it
 * (404) still gets the provider list and a note. Exit codes: 0 listed, 1 the server refused or
 * cannot be reached, 2 bad usage.
 */
export async function providersCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...connectionOptions, json: { type: 'boolean' } } });
  if (values.help === true) return void out.write(`${PROVIDERS_HELP}\n`), 0;
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const server = await openServer(values);
  const { providers } = await server.json('GET', '/v1/providers', Providers);
  let lanes: Lane[] | null;
  try {
    lanes = (await server.json('GET', '/v1/providers/health', Health)).lanes;
  } catch (error) {
    if (!(error instanceof ClientError && error.status === 404)) throw error;
    lanes = null;
  }
  if (values.json === true) {
    out.write(`${JSON.stringify({ providers, lanes }, null, 2)}\n`);
    return 0;
  }
  const now = Date.now();
  if (providers.length === 0) out.write('no providers configured (set their API keys: see jobstream serve --help)\n');
  else {
    const rows = [['PROVIDER', 'CANCEL', 'KINDS'], ...providers.map((p) => [p.name, p.cancel === undefined ? 'unknown' : (CANCEL[p.cancel] ?? p.cancel), p.kinds.join(', ')])].map((row) =>
      row.map(printable),
    );
    const widths = [0, 1].map((i) => Math.max(...rows.map((row) => columnsOf(row[i] ?? ''))));
    for (const row of rows) out.write(`${row.map((cell, i) => (i < 2 ? padColumns(cell, widths[i] ?? 0) : cell)).join('  ')}\n`);
    if (providers.some((p) => p.cancel === 'tracking-only')) out.write('(tracking only: a cancel stops jobstream following the job; the provider may still run and bill it)\n');
  }
  out.write('\n');
  if (lanes === null) out.write('lane health: this server does not report it (GET /v1/providers/health answered 404; a newer jobstream does)\n');
  else if (lanes.length === 0) out.write('lane health: no lanes yet\n');
  else {
    out.write('Lanes (one per provider credential):\n');
    const heads = lanes.map((lane) => laneHead(lane).map(printable));
    const widths = [0, 1, 2, 3].map((i) => Math.max(...heads.map((row) => columnsOf(row[i] ?? ''))));
    lanes.forEach((lane, i) => {
      out.write(`  ${(heads[i] ?? []).map((cell, j) => (j < 4 ? padColumns(cell, widths[j] ?? 0) : cell)).join('  ').trimEnd()}\n`);
      for (const line of laneDetails(lane, now)) out.write(`      ${printable(line)}\n`);
    });
  }
  return 0;
}

/** A lane's columns: id, provider, state, jobs and rate budget. */
function laneHead(lane: Lane): string[] {
  const known = (n: number | null | undefined): n is number => n !== null && n !== undefined;
  const budget = known(lane.ratePerSecond)
    ? `${round(lane.ratePerSecond)}/s${known(lane.burst) ? `, burst ${round(lane.burst)}` : ''}${known(lane.tokens) ? `, ${round(lane.tokens)} tokens left` : ''}`
    : '';
  const jobs = known(lane.jobs) ? `${lane.jobs} job${lane.jobs === 1 ? '' : 's'}` : '';
  return [lane.lane, lane.provider, lane.state.toUpperCase(), jobs, budget];
}

/** What is wrong with a lane, where anything is: since when, deadlines, failures, recent errors. */
function laneDetails(lane: Lane, now: number): string[] {
  const when = (at: number) => `${clockTime(at)} (${at >= now ? `in ${duration(at - now)}` : `${duration(now - at)} ago`})`;
  const state = [
    lane.since === null || lane.since === undefined || lane.state === 'ok' ? '' : `since ${when(lane.since)}`,
    lane.blockedUntil === null || lane.blockedUntil === undefined ? '' : `blocked until ${when(lane.blockedUntil)}`,
    lane.nextProbeAt === null || lane.nextProbeAt === undefined ? '' : `next probe ${when(lane.nextProbeAt)}`,
    lane.failures === undefined || lane.failures === 0 ? '' : `${lane.failures} failure${lane.failures === 1 ? '' : 's'}`,
  ].filter(Boolean);
  const lines = state.length > 0 ? [state.join('; ')] : [];
  for (const error of (lane.recentErrors ?? []).slice(-3)) lines.push(`${clockTime(error.at).slice(11)}  ${error.kind}: ${error.message}`);
  return lines;
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
