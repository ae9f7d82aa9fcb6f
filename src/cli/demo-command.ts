import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROVIDER_NAMES, PROVIDERS } from '../providers/provider-catalog.js';
import { createDispatcher } from '../providers/provider-http.js';
import { faultPresets } from '../simulators/kit/fault-profile.js';
import type { RunningSimulator } from '../simulators/kit/simulator.js';
import { simulatorBaseUrl, startSimulator } from '../simulators/simulator-catalog.js';
import { createLogger } from '../server/logger.js';
import type { RunningServer } from '../server/server.js';
import { startServer } from '../server/server.js';
import type { JobChange } from '../streams/job-change.js';
import { numberOption, UsageError } from './cli-error.js';
import { startWorkload, writeSamples } from './demo-workload.js';
import { recordLocalServer, TOKEN_FILE, URL_FILE } from './local-server.js';

export const DEMO_HELP = `Usage: jobstream demo [options]

The whole product on one machine with no keys and no network: simulators of all four
providers in this process (jobs take a few seconds, with mild faults so retries and
duplicate webhooks really happen), the engine with its store in ./data, the server, and a
steady trickle of sample jobs across every provider and job kind. Ctrl-C stops it cleanly;
running it again resumes the unfinished jobs.

It writes sample audio to <data>/samples/ (riff.wav, song.wav, interview.wav) for your own
jobs, and notes its URL and token in <data>, so the client commands run in this directory
(npx jobstream watch, jobs, submit) find it without flags.

Options:
  --port <n>          port of the server (default 8080; a free one if 8080 is taken)
  --data <dir>        data directory (default ./data)
  --speed <x>         simulator clock speed; 1 = jobs take a few seconds (default 1)
  --every <ms>        submit a sample job every <ms> milliseconds (default 2500)
  --faults <preset>   none | mild | hostile (default mild)
  --quiet             do not print each change
  -h, --help          this help

Examples:
  npm start
  jobstream demo --port 9000 --faults hostile
  jobstream demo --speed 5 --every 500 --data /tmp/jobstream-demo`;

/** Poll faster than the providers' documented defaults: demo jobs last seconds, not minutes. */
const DEMO_POLL_POLICY = { intervalMs: 1500, watchdog: { quietMs: 6000 }, backoff: { initialMs: 500, maxMs: 15_000 } };

/** `jobstream demo` (what `npm start` runs). */
export async function demoCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      data: { type: 'string' },
      speed: { type: 'string' },
      every: { type: 'string' },
      faults: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    out.write(`${DEMO_HELP}\n`);
    return;
  }
  const port = numberOption('port', values.port, { min: 0, max: 65535, integer: true });
  const speed = numberOption('speed', values.speed, { min: 0.01 }) ?? 1;
  const every = numberOption('every', values.every, { min: 10, integer: true }) ?? 2500;
  const preset = values.faults ?? 'mild';
  if (preset !== 'none' && preset !== 'mild' && preset !== 'hostile') throw new UsageError(`--faults must be none, mild or hostile, got "${preset}"`);
  const dataDir = values.data ?? './data';
  await mkdir(join(dataDir, 'simulators'), { recursive: true });
  const envToken = process.env.JOBSTREAM_TOKEN === '' ? undefined : process.env.JOBSTREAM_TOKEN;
  const token = envToken ?? (await demoToken(dataDir));

  const simulators: RunningSimulator[] = [];
  const dispatcher = createDispatcher();
  let server: RunningServer | undefined;
  try {
    // Same ports as last time where possible: result and upload URLs the providers handed out
    // embed the simulator's address.
    const portsFile = join(dataDir, 'simulators', 'ports.json');
    const ports = await readPorts(portsFile);
    for (const name of PROVIDER_NAMES) {
      const start = (simulatorPort: number) =>
        startSimulator(name, {
          apiKey: `demo-${name}-key`,
          speed,
          faults: faultPresets[preset],
          port: simulatorPort,
          stateFile: join(dataDir, 'simulators', `${name}.json`),
        });
      let simulator: RunningSimulator;
      try {
        simulator = await start(ports[name] ?? 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        simulator = await start(0);
      }
      simulators.push(simulator);
    }
    await writeFile(portsFile, JSON.stringify(Object.fromEntries(PROVIDER_NAMES.map((name, i) => [name, Number(new URL((simulators[i] as RunningSimulator).url).port)]))));
    const providers = PROVIDER_NAMES.map((name, i) => {
      const simulator = simulators[i] as RunningSimulator;
      // The demo runs on loopback with its simulators: outside URLs may be local too.
      return PROVIDERS[name].createAdapter({
        apiKey: simulator.apiKey,
        baseUrl: simulatorBaseUrl(name, simulator),
        dispatcher,
        pollPolicy: DEMO_POLL_POLICY,
        allowPrivateUrls: true,
      });
    });
    // Only what needs attention (outages, rate limits, store failures), as readable lines among the demo's own.
    const logger = createLogger({ level: 'warn', format: 'pretty', destination: out });
    server = await listenWithFallback(port, (p) => startServer({ providers, token, port: p, dataDir, logger }));
    const restored = server.engine.snapshot().jobs.length;
    // The CLI run beside ./data finds this server and (unless it came from the environment) its token.
    await recordLocalServer(dataDir, { url: server.url, token: envToken === undefined ? token : undefined });
    // Written before the banner names them, so every path it prints exists.
    const samples = await writeSamples(dataDir);
    const dataFlag = dataDir === './data' ? '' : ` --data ${dataDir}`;

    out.write(
      `\njobstream demo is running\n\n` +
        `  dashboard:  ${server.url}/?token=${token}\n` +
        `  REST API:   ${server.url}/v1/jobs   (Authorization: Bearer ${token})\n` +
        `  WebSocket:  ${server.url.replace(/^http/, 'ws')}/v1/stream?token=${token}\n` +
        `  simulators: ${PROVIDER_NAMES.map((name, i) => `${name} ${simulatorBaseUrl(name, simulators[i] as RunningSimulator)}`).join(', ')}\n` +
        `  data:       ${dataDir}${restored > 0 ? ` (${restored} jobs from an earlier run)` : ''}\n` +
        `  samples:    ${[samples.riff, samples.song, samples.interview].join(', ')}   (audio for your own jobs)\n\n` +
        `The command line finds this server by itself in this directory${dataFlag === '' ? '' : `, given${dataFlag}`} (through\n` +
        `${join(dataDir, URL_FILE)} and ${join(dataDir, TOKEN_FILE)}); anywhere else, export these first:\n` +
        `  export JOBSTREAM_URL=${server.url}\n` +
        `  export JOBSTREAM_TOKEN=${token}\n` +
        `  npx jobstream watch${dataFlag}\n` +
        `  npx jobstream submit klangio transcription ${samples.riff} --options '{"model":"guitar"}' --watch${dataFlag}\n\n` +
        `A sample job starts every ${every} ms across every provider and kind. Press Ctrl-C to stop.\n\n`,
    );
    const log = values.quiet === true ? undefined : server.engine.changes$().subscribe((change) => out.write(`${changeLine(change)}\n`));
    const workload = await startWorkload(server.engine, { dataDir, samples, intervalMs: every, onError: (message) => out.write(`! ${message}\n`) });

    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    out.write(`\nstopping: ${workload.submitted} jobs submitted this run; finishing writes...\n`);
    workload.stop();
    log?.unsubscribe();
  } finally {
    await server?.close();
    await Promise.all(simulators.map((simulator) => simulator.close()));
    await dispatcher.close();
  }
  out.write(`stopped. Run it again to resume the unfinished jobs from ${dataDir}.\n`);
}

async function readPorts(file: string): Promise<Partial<Record<string, number>>> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed) : {};
  } catch {
    return {}; // first run, or an unreadable file: any free ports will do
  }
}

/**
 * The demo keeps its token in the data directory (`token`, mode 0600), so a dashboard link
 * survives restarts and the CLI finds it. Data directories of earlier versions kept it in
 * `demo-token`.
 */
async function demoToken(dataDir: string): Promise<string> {
  for (const name of [TOKEN_FILE, 'demo-token']) {
    try {
      const saved = (await readFile(join(dataDir, name), 'utf8')).trim();
      if (saved.length >= 16) return saved;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return randomBytes(18).toString('base64url'); // written with the URL once the server listens
}

/** The requested port, or any free one when the default 8080 is taken. */
async function listenWithFallback(port: number | undefined, start: (port: number) => Promise<RunningServer>): Promise<RunningServer> {
  try {
    return await start(port ?? 8080);
  } catch (error) {
    if (port !== undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return start(0);
  }
}

function changeLine(change: JobChange): string {
  const { job } = change;
  const time = new Date(job.updatedAt).toISOString().slice(11, 19);
  const from = change.previousStatus === null ? 'new' : change.previousStatus;
  const move = from !== job.status ? `${from} → ${job.status}` : job.source === 'submit' ? `${job.status} (accepted)` : job.status;
  const detail = job.error !== null ? `  ${job.error.code}: ${job.error.message}` : job.progress !== null && job.status === 'running' ? `  ${Math.round(job.progress * 100)}%` : '';
  return `${time}  ${`${job.provider}/${job.kind}`.padEnd(38)} ${(job.name ?? job.id).padEnd(24)} ${move.padEnd(22)} via ${job.source}${detail}`;
}
