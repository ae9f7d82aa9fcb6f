import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ClientError } from '../client/client-error.js';
import { cancelConfirmation } from '../dashboard/cancel-confirmation.js';
import { isTerminal } from '../streams/job-status.js';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions, openClient } from './client-connection.js';
import { printable } from './terminal-text.js';

export const CANCEL_HELP = `Usage: jobstream cancel <job id> [options]

Cancels a job, after asking. Where the provider can cancel (Music.AI deletes the job), it is
stopped there. Where it cannot (Klangio, Camb.ai, sunoapi.org), jobstream only stops tracking
the job: it ends "canceled" with provider status "tracking-stopped", and the provider may still
run it and bill for it. Without a terminal to ask on, it cancels only with --yes.

Options:
  -y, --yes             cancel without asking
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream cancel job_01jd5x3k2a7m9q0c4w8e6r2t5y
  jobstream cancel job_01jd5x3k2a7m9q0c4w8e6r2t5y --yes`;

/** Where the question is asked: a terminal, or a stream that says it is none. */
export type PromptInput = NodeJS.ReadableStream & { isTTY?: boolean };

/**
 * `jobstream cancel`. Asks on `input` (stdin) before cancelling, in the words of what the cancel
 * does at the job's provider; `--yes` skips the question. Exit codes: 0 canceled (or already
 * finished), 1 not confirmed or no such job, 2 no terminal to ask on and no `--yes` (nothing is canceled),
 * 130 interrupted.
 */
export async function cancelCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal, input: PromptInput = process.stdin): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...connectionOptions, yes: { type: 'boolean', short: 'y' } } });
  if (values.help === true) return void out.write(`${CANCEL_HELP}\n`), 0;
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('cancel needs a job id, e.g. jobstream cancel job_01jd5x3k2a7m9q0c4w8e6r2t5y');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const client = await openClient(values);
  try {
    const job = await client.get(id);
    if (job === undefined) throw new ClientError('UNKNOWN_JOB', `no job with id "${id}"`);
    if (isTerminal(job.status)) {
      out.write(`${job.id}  ${job.provider}/${job.kind}  already ${job.status}: nothing to cancel\n`);
      return 0;
    }
    const mode = (await client.rest.providers()).find((p) => p.name === job.provider)?.cancel;
    // The question names the job: its name comes from the server, so printable.
    const { question, action } = cancelConfirmation(job, mode);
    const [asked, verb] = [printable(question), printable(action)];
    if (values.yes !== true) {
      if (input.isTTY !== true) {
        throw new UsageError(`not canceling ${job.id} without confirmation: stdin is not a terminal to ask on; pass --yes to cancel anyway. ${asked}`);
      }
      const answer = await ask(input, out, `${asked}\n${verb}? [y/N] `, signal);
      if (signal.aborted) return 130;
      if (answer === undefined || !/^y(es)?$/i.test(answer.trim())) {
        out.write(`not canceled: ${job.id} is still tracked\n`);
        return 1;
      }
    }
    const canceled = await client.cancel(job.id);
    out.write(`${printable(`${canceled.id}  ${canceled.provider}/${canceled.kind}  ${canceled.status} (${canceled.providerStatus ?? 'no provider status'})`)}\n`);
    if (canceled.error !== null) out.write(`${printable(`  ${canceled.error.code}: ${canceled.error.message}`)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/** One line from `input`, or `undefined` when interrupted (Ctrl-C) or the input ends first. */
async function ask(input: PromptInput, out: NodeJS.WritableStream, question: string, signal: AbortSignal): Promise<string | undefined> {
  const rl = createInterface({ input, output: out, terminal: false });
  const closed = new Promise<undefined>((resolve) => rl.once('close', () => resolve(undefined)));
  try {
    return await Promise.race([rl.question(question, { signal }).catch(() => undefined), closed]);
  } finally {
    rl.close();
  }
}
