import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isTerminal } from '../streams/job-status.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions } from './client-connection.js';
import { jobDetails } from './job-view.js';
import { jobPath, openServer, type ServerRequests } from './server-requests.js';

export const SHOW_HELP = `Usage: jobstream show <job id> [options]

Shows one job: provider and kind, status, when it was created and how long it ran (or has
been running), its error, input, the jobs it waits for or feeds in a pipeline, the job it
retries, options, metadata, its result in one line and its result files.

Options:
  --json                the job exactly as the server sends it
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream show job_01jd5x3k2a7m9q0c4w8e6r2t5y
  jobstream show job_01jd5x3k2a7m9q0c4w8e6r2t5y --json | jq .result`;

const Shown = z.object({ job: JobSnapshot });
const Page = z.object({ jobs: z.array(JobSnapshot) });
const Files = z.object({ files: z.array(z.object({ name: z.string(), contentType: z.string() })) });
const History = z.object({ changes: z.array(z.object({ job: z.object({ status: z.string(), updatedAt: z.number() }) })) });

/**
 * `jobstream show <id>`: the job as labelled lines (see `jobDetails`), or `--json` for the raw
 * snapshot. Exit codes: 0 shown, 1 no such job (or the server refused), 2 bad usage.
 */
export async function showCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...connectionOptions, json: { type: 'boolean' } } });
  if (values.help === true) return void out.write(`${SHOW_HELP}\n`), 0;
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('show needs a job id, e.g. jobstream show job_01jd5x3k2a7m9q0c4w8e6r2t5y');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const server = await openServer(values);
  if (values.json === true) {
    // As sent, fields this CLI does not know included; only checked to be a job.
    const { job } = await server.json('GET', jobPath(id), z.object({ job: z.looseObject({ id: z.string() }) }));
    out.write(`${JSON.stringify(job, null, 2)}\n`);
    return 0;
  }
  const { job } = await server.json('GET', jobPath(id), Shown);
  const [finishedAt, related, files] = await Promise.all([finishTime(server, job), relatedJobs(server, job), resultFiles(server, job)]);
  out.write(`${jobDetails(job, { now: Date.now(), finishedAt, ...related, files }).join('\n')}\n`);
  return 0;
}

/** For records without `finished`: when the job reached its final status, from its change history. */
async function finishTime(server: ServerRequests, job: JobSnapshot): Promise<number | undefined> {
  if (!isTerminal(job.status) || job.finished !== null) return undefined;
  const history = await server.json('GET', jobPath(job.id, '/changes'), History).catch(() => undefined);
  return history?.changes.find((entry) => entry.job.status === job.status)?.job.updatedAt;
}

/**
 * The jobs that wait for this one in a pipeline, and those that retry it: among the jobs created
 * since it (at most 1000, oldest first, where the server can sort; else the newest 1000).
 * Best effort: a server that cannot answer leaves the lines out.
 */
async function relatedJobs(server: ServerRequests, job: JobSnapshot): Promise<{ downstream: JobSnapshot[]; retries: JobSnapshot[] }> {
  const query = new URLSearchParams({ from: String(job.createdAt), sort: 'createdAt', order: 'asc', limit: '1000' });
  const page = await server.json('GET', `/v1/jobs?${query.toString()}`, Page).catch(() => undefined);
  const jobs = page?.jobs ?? [];
  return { downstream: jobs.filter((other) => other.after?.jobId === job.id), retries: jobs.filter((other) => other.retryOf === job.id) };
}

/** The result files of a succeeded job, with sizes where the server keeps copies. */
async function resultFiles(server: ServerRequests, job: JobSnapshot): Promise<{ name: string; contentType: string; bytes?: number }[]> {
  if (job.status !== 'succeeded') return [];
  if (job.artifacts?.state === 'complete') return job.artifacts.files;
  const listed = await server.json('GET', jobPath(job.id, '/results'), Files).catch(() => undefined);
  return listed?.files ?? [];
}
