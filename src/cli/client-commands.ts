import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';
import { UsageError, numberOption } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions, openClient } from './client-connection.js';
import { jobTable } from './job-view.js';
import { liveView } from './live-view.js';

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
  --limit <n>           at most n jobs (default 50)
  --json                print JSON instead of a table
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream jobs --status running --status queued
  jobstream jobs --provider klangio --limit 10`;

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

function json(flag: string, text: string | undefined): Record<string, never> | undefined {
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
    ...(values.options === undefined ? {} : { options: json('options', values.options) }),
    ...(values.metadata === undefined ? {} : { metadata: json('metadata', values.metadata) }),
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
    out.write(`${job.id}  ${job.provider}/${job.kind}  ${job.status}${job.error === null ? '' : `  ${job.error.code}: ${job.error.message}`}\n`);
    if (values.watch !== true) return job.status === 'failed' ? 1 : 0;
    return await liveView(client, out, { filter: { ids: [job.id] }, until: [job.id], signal });
  } finally {
    await client.close();
  }
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
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (values.help === true) return void out.write(`${JOBS_HELP}\n`), 0;
  const limit = numberOption('limit', values.limit, { min: 1, max: 1000, integer: true }) ?? 50;
  const wanted = statuses(values.status);
  const client = await openClient(values);
  try {
    const { jobs } = await client.list({
      limit,
      ...(wanted === undefined ? {} : { statuses: wanted }),
      ...(values.provider === undefined ? {} : { providers: values.provider }),
      ...(values.kind === undefined ? {} : { kinds: values.kind }),
    });
    if (values.json === true) out.write(`${JSON.stringify(jobs, null, 2)}\n`);
    else if (jobs.length === 0) out.write('no jobs\n');
    else out.write(`${jobTable(jobs, { now: Date.now(), colour: isTty(out) }).join('\n')}\n`);
    return 0;
  } finally {
    await client.close();
  }
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
      if ((await client.get(id)) === undefined) throw new UsageError(`no job with id "${id}"`);
    }
    return await liveView(client, out, { filter: jobFilter, until: positionals, signal });
  } finally {
    await client.close();
  }
}

function isTty(out: NodeJS.WritableStream): boolean {
  return (out as { isTTY?: boolean }).isTTY === true;
}
