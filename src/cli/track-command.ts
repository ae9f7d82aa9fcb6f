import { parseArgs } from 'node:util';
import { UsageError } from './cli-error.js';
import { CONNECTION_HELP, connectionOptions, openClient } from './client-connection.js';
import { jsonObjectOption, watchUntilSettled } from './client-commands.js';
import { printable } from './terminal-text.js';

export const TRACK_HELP = `Usage: jobstream track <provider> <kind> <external id> [options]

Adopts a job that was submitted to the provider some other way (its dashboard, a script, a
create call whose answer was lost: the SUBMIT_UNCERTAIN error names this command's use), so
jobstream follows it like its own: status, progress, result files.

Options:
  --name <name>         a name to show for the job
  --options <json>      the options it was created with, where the provider needs them to read
                        the result (e.g. '{"outputs":["mxml"]}')
  --metadata <json>     your own flat key/values
  --watch               follow the job live until it settles (exit 1 if it fails)
${CONNECTION_HELP}
  -h, --help            this help

Examples:
  jobstream track klangio transcription 8f1c2d3e --name "riff from the web UI" --watch
  jobstream track sunoapi vocal-separation 5c79be8e`;

/**
 * `jobstream track` (`POST /v1/jobs/track`). Exit codes: 0 tracked (with `--watch`: and it
 * succeeded), 1 refused by the server (or, with `--watch`, the job failed), 2 bad usage, 130 Ctrl-C.
 */
export async function trackCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...connectionOptions, name: { type: 'string' }, options: { type: 'string' }, metadata: { type: 'string' }, watch: { type: 'boolean' } },
  });
  if (values.help === true) return void out.write(`${TRACK_HELP}\n`), 0;
  const [provider, kind, externalId, ...extra] = positionals;
  if (provider === undefined || kind === undefined || externalId === undefined) {
    throw new UsageError('track needs a provider, a kind and the provider\'s id for the job, e.g. jobstream track klangio transcription 8f1c2d3e');
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const options = jsonObjectOption('options', values.options);
  const metadata = jsonObjectOption('metadata', values.metadata);
  const client = await openClient(values);
  try {
    const job = await client.track({
      provider,
      kind,
      externalId,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(options === undefined ? {} : { options }),
      ...(metadata === undefined ? {} : { metadata }),
    });
    out.write(printable(`${job.id}  ${job.provider}/${job.kind}  tracking ${job.externalId ?? externalId}  ${job.status}${job.error === null ? '' : `  ${job.error.code}: ${job.error.message}`}`) + '\n');
    if (values.watch !== true) return job.status === 'failed' ? 1 : 0;
    return await watchUntilSettled(client, job.id, out, signal);
  } finally {
    await client.close();
  }
}
