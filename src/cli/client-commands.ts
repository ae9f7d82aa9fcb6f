import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ClientError } from '../client/client-error.js';
import type { RemoteClient } from '../client/node.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';
import { UsageError, numberOption } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions, openClient } from './client-connection.js';
import { byteSize, jobTable } from './job-view.js';
import { liveView } from './live-view.js';
import { openServer } from './server-requests.js';
import { columnsOf, fitColumns, padColumns, printable } from './terminal-text.js';

export const SUBMIT_HELP = `Usage: jobstream submit <provider> <kind> [<file-or-url>] [options]

Submits a job to a jobstream server: a local file is uploaded, an http(s) URL is passed on.
sunoapi.org jobs take no input (their options name an earlier task).

Options:
  --name <name>         a name to show for the job
  --options <json>      provider options, e.g. '{"model":"guitar","outputs":["mxml"]}'
  --metadata <json>     your own flat key/values
  --after <job id>      start only when that job has succeeded (fail if it does not)
  --input-from <file>   with --after: use that job's result file as the input
  --external-id-option <name>
                        with --after: set this option to that job's external id
  --watch               follow the job live until it settles (exit 1 if it fails)
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream submit klangio transcription riff.wav --options '{"model":"guitar"}' --watch
  jobstream submit cambai transcription https://example.com/talk.mp3 --options '{"language":1}'
  jobstream submit sunoapi midi --options '{"taskId":"5c79be8e"}'
  jobstream submit sunoapi midi --after job_01jd5x… --external-id-option taskId --watch
  jobstream submit klangio chord-recognition --after job_01jd5y… --input-from guitar.wav`;

export const JOBS_HELP = `Usage: jobstream jobs [options]

Lists jobs as a table, newest first.

Options:
  --status <s>          queued, running, succeeded, failed or canceled (repeatable)
  --provider <name>     (repeatable)
  --kind <kind>         (repeatable)
  --search <text>       jobs whose name, id, provider id or a metadata value contains it
                        (any case)
  --from <time>         created at or after: an ISO 8601 date or time, epoch ms, or a time
                        ago such as 30m, 12h, 7d
  --to <time>           created before (the same forms)
  --sort <field>        created (default) or updated: newest first
  --oldest-first        the other way round
  --limit <n>           at most n jobs (default 50)
  --json                print JSON instead of a table
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream jobs --status running --status queued
  jobstream jobs --provider klangio --limit 10
  jobstream jobs --search riff --from 2d --status failed`;

export const WATCH_HELP = `Usage: jobstream watch [job ids...] [options]

A live view of jobs over the WebSocket, redrawn in place. With job ids it exits when they
have all settled: with 0 if every one succeeded, 1 otherwise. Without ids it follows every
job matching the filters until Ctrl-C.

Options:
  --provider <name>     (repeatable)
  --kind <kind>         (repeatable)
  --status <s>          (repeatable)
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream watch job_01jd5x3k2a7m9q0c4w8e6r2t5y
  jobstream watch --provider sunoapi`;

function statuses(values: string[] | undefined): JobStatus[] | undefined {
  return values?.map((value) => {
    const parsed = JobStatus.safeParse(value);
    if (!parsed.success) throw new UsageError(`--status must be one of ${JobStatus.options.join(', ')}, got "${value}"`);
    return parsed.data;
  });
}

/**
 * A `--<flag> <json>` option that must be a JSON object, parsed.
 *
 * @throws {UsageError} naming the flag when it is not.
 */
export function jsonObjectOption(flag: string, text: string | undefined): Record<string, never> | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, never>;
  } catch {
    throw new UsageError(`--${flag} must be a JSON object, e.g. '{"key":"value"}'`);
  }
}

/** `jobstream submit`. */
export async function submitCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...connectionOptions,
      name: { type: 'string' },
      options: { type: 'string' },
      metadata: { type: 'string' },
      after: { type: 'string' },
      'input-from': { type: 'string' },
      'external-id-option': { type: 'string' },
      watch: { type: 'boolean' },
    },
  });
  if (values.help === true) return void out.write(`${SUBMIT_HELP}\n`), 0;
  const [provider, kind, source, ...extra] = positionals;
  if (provider === undefined || kind === undefined) throw new UsageError('submit needs a provider and a kind, e.g. jobstream submit klangio transcription riff.wav');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.after === undefined && (values['input-from'] !== undefined || values['external-id-option'] !== undefined)) {
    throw new UsageError('--input-from and --external-id-option go with --after <job id>');
  }
  const after =
    values.after === undefined
      ? undefined
      : {
          jobId: values.after,
          ...(values['input-from'] === undefined ? {} : { inputFrom: values['input-from'] }),
          ...(values['external-id-option'] === undefined ? {} : { externalIdOption: values['external-id-option'] }),
        };
  const fields = {
    provider,
    kind,
    ...(after === undefined ? {} : { after }),
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.options === undefined ? {} : { options: jsonObjectOption('options', values.options) }),
    ...(values.metadata === undefined ? {} : { metadata: jsonObjectOption('metadata', values.metadata) }),
  };
  const client = await openClient(values);
  try {
    let job: JobSnapshot;
    if (source === undefined) job = await client.submit(fields);
    else if (/^https?:\/\//i.test(source)) job = await client.submit({ ...fields, input: { type: 'url', url: source } });
    else {
      let file: Blob;
      try {
        file = await openAsBlob(source);
      } catch {
        throw new UsageError(`cannot read "${source}": give a readable file or an http(s) URL`);
      }
      job = await client.submit({ ...fields, file, filename: basename(source) });
    }
    out.write(`${printable(`${job.id}  ${job.provider}/${job.kind}  ${job.status}${job.error === null ? '' : `  ${job.error.code}: ${job.error.message}`}`)}\n`);
    if (values.watch !== true) return job.status === 'failed' ? 1 : 0;
    return await watchUntilSettled(client, job.id, out, signal);
  } finally {
    await client.close();
  }
}

/**
 * The live view of one job until it settles (see `liveView`), then, when it succeeded, its
 * result files with their sizes (where the server keeps copies). For `--watch` of `submit`,
 * `track` and `retry`. Resolves with the exit code: 0 succeeded, 1 otherwise, 130 Ctrl-C.
 */
export async function watchUntilSettled(client: RemoteClient, id: string, out: NodeJS.WritableStream, signal: AbortSignal): Promise<number> {
  const code = await liveView(client, out, { filter: { ids: [id] }, until: [id], signal });
  if (code !== 0) return code;
  const job = await client.get(id);
  if (job?.status !== 'succeeded') return code;
  const files: { name: string; contentType: string; bytes?: number }[] =
    job.artifacts?.state === 'complete' ? job.artifacts.files : await client.rest.resultFiles(id).catch(() => []);
  const terminal = out as { isTTY?: boolean; columns?: number };
  out.write(resultFilesText(job.id, files, terminal.isTTY === true ? Math.max(20, (terminal.columns ?? 80) - 1) : undefined));
  return code;
}

/**
 * The result files of a job as the lines printed after `--watch`: name, size (where known) and
 * type, and the command that downloads them. With `width` (a terminal's), each line is cut to
 * it, so nothing wraps.
 *
 * @example
 * result files of job_01jd…:
 *   score.musicxml  12.3 kB  application/vnd.recordare.musicxml+xml
 * download them with:
 *   jobstream results job_01jd…
 */
export function resultFilesText(id: string, files: readonly { name: string; contentType: string; bytes?: number | undefined }[], width?: number): string {
  const names = files.map((file) => printable(file.name));
  const nameWidth = Math.min(40, Math.max(0, ...names.map(columnsOf)));
  const sizes = files.map((file) => (file.bytes === undefined ? '' : byteSize(file.bytes)));
  const sizeWidth = Math.max(0, ...sizes.map((size) => size.length));
  const lines =
    files.length === 0
      ? [`${id}: no result files`]
      : [
          `result files of ${id}:`,
          ...files.map((file, i) => `  ${padColumns(names[i] ?? '', nameWidth)}  ${(sizes[i] ?? '').padStart(sizeWidth)}${sizeWidth === 0 ? '' : '  '}${printable(file.contentType)}`.trimEnd()),
          'download them with:',
          `  jobstream results ${id}`,
        ];
  return `${lines.map((line) => (width === undefined ? line : fitColumns(line, width))).join('\n')}\n`;
}

/** `jobstream jobs`. */
export async function jobsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...connectionOptions,
      status: { type: 'string', multiple: true },
      provider: { type: 'string', multiple: true },
      kind: { type: 'string', multiple: true },
      search: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      sort: { type: 'string' },
      'oldest-first': { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (values.help === true) return void out.write(`${JOBS_HELP}\n`), 0;
  const limit = numberOption('limit', values.limit, { min: 1, max: 1000, integer: true }) ?? 50;
  const wanted = statuses(values.status);
  if (values.sort !== undefined && values.sort !== 'created' && values.sort !== 'updated') throw new UsageError(`--sort must be created or updated, got "${values.sort}"`);
  const now = Date.now();
  const from = timeOption('from', values.from, now);
  const to = timeOption('to', values.to, now);
  const params = new URLSearchParams({ limit: String(limit) });
  for (const status of wanted ?? []) params.append('status', status);
  for (const provider of values.provider ?? []) params.append('provider', provider);
  for (const kind of values.kind ?? []) params.append('kind', kind);
  if (values.search !== undefined) params.set('q', values.search);
  if (from !== undefined) params.set('from', String(from));
  if (to !== undefined) params.set('to', String(to));
  const ordered = values.sort !== undefined || values['oldest-first'] === true;
  if (ordered) {
    params.set('sort', values.sort === 'updated' ? 'updatedAt' : 'createdAt');
    params.set('order', values['oldest-first'] === true ? 'asc' : 'desc');
  }
  const server = await openServer(values);
  const page = await server.json('GET', `/v1/jobs?${params.toString()}`, JobsPage);
  // A server older than search answers without a total, and would have ignored the new filters.
  if (page.total === undefined && (values.search !== undefined || from !== undefined || to !== undefined || ordered)) {
    throw new ClientError('NOT_SUPPORTED', 'this server cannot search, sort or take a time range (GET /v1/jobs answered without a total; a newer jobstream can)');
  }
  const jobs = page.jobs;
  if (values.json === true) out.write(`${JSON.stringify(jobs, null, 2)}\n`);
  else if (jobs.length === 0) out.write('no jobs\n');
  else {
    out.write(`${jobTable(jobs, { now, colour: isTty(out), ...(ordered ? { keepOrder: true } : {}) }).join('\n')}\n`);
    if (page.total !== undefined && page.total > jobs.length) out.write(`${jobs.length} of ${page.total} matching jobs (--limit shows more; --search, --from, --to narrow)\n`);
  }
  return 0;
}

const JobsPage = z.object({ jobs: z.array(JobSnapshot), nextCursor: z.string().nullable(), total: z.number().optional() });

/**
 * A `--from`/`--to` time: an ISO 8601 date or date-time, epoch milliseconds, or a time ago
 * (`30m`, `12h`, `7d`, `90s`), as epoch ms.
 *
 * @throws {UsageError} for anything else.
 */
export function timeOption(flag: string, text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const ago = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (ago !== null) return now - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d{1,16}$/.test(text.trim())) return Number(text.trim());
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`--${flag} must be an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z), epoch ms, or a time ago such as 30m, 12h or 7d; got "${text}"`);
  return ms;
}

/** `jobstream watch`. */
export async function watchCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...connectionOptions, status: { type: 'string', multiple: true }, provider: { type: 'string', multiple: true }, kind: { type: 'string', multiple: true } },
  });
  if (values.help === true) return void out.write(`${WATCH_HELP}\n`), 0;
  const wanted = statuses(values.status);
  const client = await openClient(values);
  try {
    const jobFilter = {
      ...(positionals.length === 0 ? {} : { ids: positionals }),
      ...(wanted === undefined ? {} : { statuses: wanted }),
      ...(values.provider === undefined ? {} : { providers: values.provider }),
      ...(values.kind === undefined ? {} : { kinds: values.kind }),
    };
    for (const id of positionals) {
      if ((await client.get(id)) === undefined) throw new ClientError('UNKNOWN_JOB', `no job with id "${id}"`);
    }
    return await liveView(client, out, { filter: jobFilter, until: positionals, signal });
  } finally {
    await client.close();
  }
}

function isTty(out: NodeJS.WritableStream): boolean {
  return (out as { isTTY?: boolean }).isTTY === true;
}
