#!/usr/bin/env node
/**
 * The `jobstream` command. Each subcommand lives in `src/cli/`; this file only dispatches,
 * wires Ctrl-C to a clean shutdown, and turns errors into one readable line.
 */
import { CANCEL_HELP, cancelCommand } from './cli/cancel-command.js';
import { UsageError } from './cli/cli-error.js';
import { closestName } from './cli/close-names.js';
import { JOBS_HELP, jobsCommand, SUBMIT_HELP, submitCommand, WATCH_HELP, watchCommand } from './cli/client-commands.js';
import { DEMO_HELP, demoCommand } from './cli/demo-command.js';
import { PROVIDERS_HELP, providersCommand } from './cli/providers-command.js';
import { RESULTS_HELP, resultsCommand } from './cli/results-command.js';
import { RETRY_HELP, retryCommand } from './cli/retry-command.js';
import { SERVE_HELP, serveCommand } from './cli/serve-command.js';
import { SHOW_HELP, showCommand } from './cli/show-command.js';
import { SIMULATE_HELP, simulateCommand } from './cli/simulate-command.js';
import { printable } from './cli/terminal-text.js';
import { TRACK_HELP, trackCommand } from './cli/track-command.js';
import { WEBHOOKS_HELP, webhooksCommand } from './cli/webhooks-command.js';
import { ClientError } from './client/client-error.js';
import { ConfigError } from './server/server-config.js';
import { JobstreamError } from './streams/errors.js';

const HELP = `Usage: jobstream <command> [options]

Commands:
  demo                  the demo: simulators, engine, server and sample jobs (npm start)
  serve                 run the engine, REST API, webhook intake and WebSocket hub
  simulate <provider>   run a provider simulator (klangio, musicai, sunoapi, cambai)
  submit <provider> <kind> [file-or-url]   submit a job to a server (--watch to follow it)
  jobs                  list a server's jobs as a table
  watch [job ids...]    a live view of jobs; exits 1 when a watched job fails
  show <job id>         one job: status, times, error, links, result files
  results <job id>      download a job's result files (--out dir, --force)
  cancel <job id>       cancel a job, after asking (--yes to skip the question)
  retry <job id>        submit a job again as a new job linked to it (--watch)
  track <provider> <kind> <external id>
                        adopt a job submitted elsewhere (--watch)
  providers             providers, kinds, cancel mode and each lane's health
  webhooks <list|add|rm|deliveries|replay>   outbound webhook endpoints and their delivery log

Client commands take --server and --token (or JOBSTREAM_URL and JOBSTREAM_TOKEN); run next
to a demo's or server's data directory (./data) they find both by themselves.

Run "jobstream <command> --help" for a command's options and examples.`;

const COMMANDS: Record<string, { run: (argv: string[], out: NodeJS.WritableStream, signal: AbortSignal) => Promise<void | number>; help: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP },
  serve: { run: serveCommand, help: SERVE_HELP },
  simulate: { run: simulateCommand, help: SIMULATE_HELP },
  submit: { run: submitCommand, help: SUBMIT_HELP },
  jobs: { run: jobsCommand, help: JOBS_HELP },
  watch: { run: watchCommand, help: WATCH_HELP },
  cancel: { run: cancelCommand, help: CANCEL_HELP },
  show: { run: showCommand, help: SHOW_HELP },
  results: { run: resultsCommand, help: RESULTS_HELP },
  providers: { run: providersCommand, help: PROVIDERS_HELP },
  track: { run: trackCommand, help: TRACK_HELP },
  retry: { run: retryCommand, help: RETRY_HELP },
  webhooks: { run: webhooksCommand, help: WEBHOOKS_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    const meant = closestName(name, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${name}"${meant === undefined ? '' : ` (did you mean "${meant}"?)`}: see jobstream --help`);
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return (await command.run(rest, process.stdout, stop.signal)) ?? 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Bad usage (exit 2): a mistake in the arguments, flags or configuration, not a failure at run time. */
function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || error instanceof ConfigError || ((error as { code?: unknown }).code as string | undefined)?.startsWith?.('ERR_PARSE_ARGS') === true;
}

/** One line for each error; a system error names what it was about rather than a stack. */
function describe(error: unknown): string {
  // One problem on one line; several (every bad value is reported at once) one per line.
  if (error instanceof ConfigError && error.problems.length === 1) return `invalid configuration: ${error.problems[0]}`;
  // A server's message may carry control characters: printed as text, never as terminal codes.
  if (error instanceof ClientError) return printable(error.message);
  if (isUsageError(error) || error instanceof JobstreamError) return (error as Error).message;
  const system = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (system.code === 'EADDRINUSE') {
    const where = system.port === undefined ? 'the port' : `${system.address ?? ''}:${system.port}`;
    return `cannot listen on ${where}: the port is already in use (by another jobstream or another program); choose another with --port, or --port 0 for any free port`;
  }
  if (system.code === 'EACCES' && system.syscall === 'listen') return `cannot listen on port ${system.port ?? ''}: permission denied (ports below 1024 need privileges); choose another with --port`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`jobstream: ${describe(error)}\n`);
    process.exitCode = isUsageError(error) ? 2 : 1;
  },
);
