import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ClientError } from '../client/client-error.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions } from './client-connection.js';
import { byteSize } from './job-view.js';
import { safeFileName, uniqueFileNames } from './safe-file-name.js';
import { jobPath, openServer } from './server-requests.js';
import { printable } from './terminal-text.js';

export const RESULTS_HELP = `Usage: jobstream results <job id> [options]

Downloads every result file of a succeeded job into a directory, streamed to disk. Names from
the server are made into plain file names first: a name such as "../x" or "a/b" becomes
"__x" or "a_b", so nothing is ever written outside the directory. An existing file is never
overwritten without --force.

Options:
  --out <dir>           where to write the files (default: ./<job id>; made if missing)
  --force               overwrite files that already exist
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream results job_01jd5x3k2a7m9q0c4w8e6r2t5y
  jobstream results job_01jd5x3k2a7m9q0c4w8e6r2t5y --out stems --force`;

const Files = z.object({ files: z.array(z.object({ name: z.string().min(1), contentType: z.string() })) });

/** One file to write: the server's name, and where it goes. */
interface Planned {
  name: string;
  path: string;
  local: string;
}

/**
 * `jobstream results <id>`. Exit codes: 0 every file written (or the job has none), 1 no such
 * job, a job that has not succeeded, a file that exists (nothing is written then) or a download
 * that failed (its partial file is removed), 2 bad usage.
 */
export async function resultsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...connectionOptions, out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
  });
  if (values.help === true) return void out.write(`${RESULTS_HELP}\n`), 0;
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('results needs a job id, e.g. jobstream results job_01jd5x3k2a7m9q0c4w8e6r2t5y --out stems');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.out === '') throw new UsageError('--out needs a directory');
  const server = await openServer(values);
  const { job } = await server.json('GET', jobPath(id), z.object({ job: JobSnapshot }));
  if (job.status !== 'succeeded') {
    throw new ClientError('RESULT_NOT_READY', `${job.id} is ${job.status}: result files exist once a job has succeeded${job.error === null ? '' : ` (${job.error.code}: ${job.error.message})`}`);
  }
  const { files } = await server.json('GET', jobPath(job.id, '/results'), Files);
  if (files.length === 0) {
    out.write(`${job.id} has no result files\n`);
    return 0;
  }
  const dir = resolve(values.out ?? safeFileName(job.id));
  const plan: Planned[] = uniqueFileNames(files.map((file) => file.name)).map((local, i) => ({ name: (files[i] as { name: string }).name, local, path: join(dir, local) }));
  for (const file of plan) {
    // safeFileName makes this hold; checked again because a mistake here writes anywhere.
    if (dirname(file.path) !== dir || relative(dir, file.path).startsWith('..')) throw new Error(`refusing to write ${file.path}: outside ${dir}`);
  }
  if (values.force !== true) {
    const existing = (await Promise.all(plan.map(async (file) => ((await exists(file.path)) ? file.path : undefined)))).filter((path) => path !== undefined);
    if (existing.length > 0) {
      throw new ClientError('FILE_EXISTS', `not overwriting ${existing.map((path) => printable(path)).join(', ')}: pass --force to overwrite, or --out another directory (nothing was downloaded)`);
    }
  }
  await mkdir(dir, { recursive: true });
  let total = 0;
  for (const file of plan) {
    const response = await server.request('GET', jobPath(job.id, `/results/${encodeURIComponent(file.name)}`));
    // A file replaced with --force is removed first, so a link in its place is not followed.
    if (values.force === true) await rm(file.path, { force: true });
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    try {
      const body = response.body === null ? Readable.from([]) : Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
      await pipeline(body, count, createWriteStream(file.path, { flags: 'wx', mode: 0o644 }));
    } catch (error) {
      await rm(file.path, { force: true });
      const reason = (error as NodeJS.ErrnoException).code === 'EEXIST' ? 'it appeared while downloading' : printable((error as Error).message);
      throw new ClientError('DOWNLOAD_FAILED', `downloading ${printable(file.name)} of ${job.id} failed (${reason}); files written before it are kept`, { cause: error });
    }
    total += bytes;
    const renamed = file.local === file.name ? '' : `  (the server's name: ${printable(JSON.stringify(file.name))})`;
    out.write(`${printable(join(values.out ?? safeFileName(job.id), file.local))}  ${byteSize(bytes)}${renamed}\n`);
  }
  out.write(`${plan.length} file${plan.length === 1 ? '' : 's'}, ${byteSize(total)}, in ${printable(dir)}\n`);
  return 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
