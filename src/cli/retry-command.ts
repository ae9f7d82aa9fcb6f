import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ClientError } from '../client/client-error.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions, openClient } from './client-connection.js';
import { watchUntilSettled } from './client-commands.js';
import { jobPath, openServer } from './server-requests.js';
import { printable } from './terminal-text.js';

export const RETRY_HELP = `Usage: jobstream retry <job id> [options]

Submits a job again as a new job: the same provider, kind, input (a URL, or the upload the
server kept), options, metadata and name, linked to the old one ("retry of" in jobstream show).
A job whose input cannot be sent again (an adopted job, a record older than the feature) is
refused with the reason.

Options:
  --watch               follow the new job live until it settles (exit 1 if it fails)
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream retry job_01jd5x3k2a7m9q0c4w8e6r2t5y --watch`;

/**
 * `jobstream retry` (`POST /v1/jobs/:id/retry`). Exit codes: 0 resubmitted (with `--watch`: and
 * it succeeded), 1 no such job, not retryable, a server without retry, or the new job failed;
 * 2 bad usage; 130 Ctrl-C.
 */
export async function retryCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...connectionOptions, watch: { type: 'boolean' } } });
  if (values.help === true) return void out.write(`${RETRY_HELP}\n`), 0;
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('retry needs a job id, e.g. jobstream retry job_01jd5x3k2a7m9q0c4w8e6r2t5y');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const server = await openServer(values);
  let job: JobSnapshot;
  try {
    ({ job } = await server.json('POST', jobPath(id, '/retry'), z.object({ job: JobSnapshot })));
  } catch (error) {
    // A route the server does not have (an older jobstream): NOT_FOUND rather than UNKNOWN_JOB.
    if (error instanceof ClientError && error.code === 'NOT_FOUND') throw new ClientError('NOT_FOUND', `this server cannot retry jobs (POST /v1/jobs/:id/retry answered 404; a newer jobstream can)`);
    throw error;
  }
  out.write(printable(`${job.id}  ${job.provider}/${job.kind}  ${job.status}  retry of ${job.retryOf ?? id}${job.error === null ? '' : `  ${job.error.code}: ${job.error.message}`}`) + '\n');
  if (values.watch !== true) return job.status === 'failed' ? 1 : 0;
  const client = await openClient(values);
  try {
    return await watchUntilSettled(client, job.id, out, signal);
  } finally {
    await client.close();
  }
}
