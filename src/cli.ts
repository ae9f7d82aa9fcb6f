#!/usr/bin/env node
/**
 * The `jobstream` command. Each subcommand lives in `src/cli/`; this file only dispatches,
 * wires Ctrl-C to a clean shutdown, and turns errors into one readable line.
 */
import { UsageError } from './cli/cli-error.js';
import { JOBS_HELP, jobsCommand, SUBMIT_HELP, submitCommand, WATCH_HELP, watchCommand } from './cli/client-commands.js';
import { DEMO_HELP, demoCommand } from './cli/demo-command.js';
import { SERVE_HELP, serveCommand } from './cli/serve-command.js';
import { SIMULATE_HELP, simulateCommand } from './cli/simulate-command.js';
import { ClientError } from './client/client-error.js';
import { JobstreamError } from './streams/errors.js';

const HELP = `Usage: jobstream <command> [options]

Commands:
  demo                  the demo: simulators, engine, server and sample jobs (npm start)
  serve                 run the engine, REST API, webhook intake and WebSocket hub
  simulate <provider>   run a provider simulator (klangio, musicai, sunoapi, cambai)
  submit <provider> <kind> [file-or-url]   submit a job to a server (--watch to follow it)
  jobs                  list a server's jobs as a table
  watch [job ids...]    a live view of jobs; exits 1 when a watched job fails

Client commands take --server and --token (or JOBSTREAM_URL and JOBSTREAM_TOKEN).

Run "jobstream <command> --help" for a command's options and examples.`;

const COMMANDS: Record<string, { run: (argv: string[], out: NodeJS.WritableStream, signal: AbortSignal) => Promise<void | number>; help: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP },
  serve: { run: serveCommand, help: SERVE_HELP },
  simulate: { run: simulateCommand, help: SIMULATE_HELP },
  submit: { run: submitCommand, help: SUBMIT_HELP },
  jobs: { run: jobsCommand, help: JOBS_HELP },
  watch: { run: watchCommand, help: WATCH_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command "${name}"\n\n${HELP}`);
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message =
      error instanceof UsageError || error instanceof JobstreamError || error instanceof ClientError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
        ? (error as Error).message
        : error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
    process.stderr.write(`jobstream: ${message}\n`);
    process.exitCode = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  },
);
