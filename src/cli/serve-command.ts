import { parseArgs } from 'node:util';
import { createDispatcher } from '../providers/provider-http.js';
import { PROVIDERS } from '../providers/provider-catalog.js';
import { createLogger } from '../server/logger.js';
import { loadServerConfig, SERVER_SETTINGS, serverEnvNames, type ServerConfig } from '../server/server-config.js';
import { startServer } from '../server/server.js';
import { misspeltEnv } from './close-names.js';
import { recordLocalServer, TOKEN_FILE, URL_FILE } from './local-server.js';

export const SERVE_HELP = `Usage: jobstream serve [--port <n>] [--host <addr>] [--data <dir>] [--redis <url>] [--retain-days <n>]

Starts the engine, the REST API, the webhook intake and the WebSocket hub on one port.
Providers are configured from the environment: <PROVIDER>_API_KEY (required to enable
one) and <PROVIDER>_BASE_URL (default: the real API), for KLANGIO, MUSICAI, SUNOAPI and
CAMBAI. Clients authenticate with JOBSTREAM_TOKEN (generated and printed when unset).
A variable that looks like a misspelling of one of these (KLANGIO_APIKEY) is named at start.
The server notes its URL in <data>/${URL_FILE} and a generated token in <data>/${TOKEN_FILE} (mode
0600), where the client commands (jobs, watch, submit) run beside it find them.
Logs go to stdout: JSON lines (JOBSTREAM_LOG_FORMAT=json, the default when stdout is not a
terminal) or readable lines (pretty), from JOBSTREAM_LOG_LEVEL (default info) up.

Options:
${Object.values(SERVER_SETTINGS)
  .filter((s): s is (typeof s & { flag: string }) => 'flag' in s)
  .map((s) => `  --${s.flag.padEnd(22)}${s.description} (env ${s.env}${s.default === undefined ? '' : `, default ${String(s.default)}`})`)
  .join('\n')}
  -h, --help                this help

Examples:
  JOBSTREAM_TOKEN=change-me-please-16 KLANGIO_API_KEY=... jobstream serve --port 8080
  KLANGIO_BASE_URL=http://127.0.0.1:4100 KLANGIO_API_KEY=dev-key jobstream serve --data ./data`;

/** `jobstream serve`: runs the server until SIGINT/SIGTERM, then shuts down cleanly. */
export async function serveCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      redis: { type: 'string' },
      'retain-days': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    out.write(`${SERVE_HELP}\n`);
    return;
  }
  const config = loadServerConfig(process.env, {
    ...(values.port === undefined ? {} : { port: values.port }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.data === undefined ? {} : { data: values.data }),
    ...(values.redis === undefined ? {} : { redis: values.redis }),
    ...(values['retain-days'] === undefined ? {} : { 'retain-days': values['retain-days'] }),
  });
  const dispatcher = createDispatcher();
  const providers = config.providers.map(({ name, apiKey, baseUrl, pollIntervalMs, webhookKey }) =>
    PROVIDERS[name].createAdapter({
      apiKey,
      baseUrl,
      dispatcher,
      ...(webhookKey === undefined ? {} : { webhookKey }),
      allowPrivateUrls: config.allowPrivateUrls,
      ...(pollIntervalMs === undefined ? {} : { pollPolicy: { intervalMs: pollIntervalMs } }),
    }),
  );
  const format = config.log.format ?? ((out as { isTTY?: boolean }).isTTY === true ? 'pretty' : 'json');
  const logger = createLogger({ level: config.log.level, format, destination: out });
  const misspelt = misspeltEnv(process.env, serverEnvNames());
  // A person at a terminal reads these in the banner; a log collector gets them first thing.
  if (format === 'json') for (const { name, meant } of misspelt) logger.warn({ variable: name, meant }, `${name} is not a jobstream setting: did you mean ${meant}?`);
  // A cluster member: jobs, change log, poll schedule and rate budgets in Redis (the Redis
  // client is loaded only then).
  const cluster =
    config.redisUrl === undefined
      ? undefined
      : await (await import('../cluster/index.js')).redisCluster({
          url: config.redisUrl,
          leaseMs: config.pollLeaseMs,
          onPollScheduleError: (error) => logger.warn({ operation: error.operation, lane: error.lane, retried: error.retried }, error.message),
        });
  const server = await startServer({
    logger,
    providers,
    ...(cluster === undefined ? {} : { cluster }),
    ...(config.resultsDir === undefined ? {} : { resultsDir: config.resultsDir }),
    ...(config.retainDays === undefined ? {} : { retainMs: config.retainDays * 86_400_000 }),
    token: config.token,
    host: config.host,
    port: config.port,
    dataDir: config.dataDir,
    ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
    maxUploadBytes: config.maxUploadBytes,
    maxJsonBytes: config.maxJsonBytes,
    maxWebhookBytes: config.maxWebhookBytes,
    ws: config.ws,
    sse: config.sse,
    scopedTokens: { maxTtlSeconds: config.scopedTokenMaxTtlSeconds },
    webhooks: {
      dispatcher,
      allowPrivateTargets: config.webhooks.allowPrivateTargets,
      backoffBaseMs: config.webhooks.backoffBaseMs,
      backoffCapMs: config.webhooks.backoffCapMs,
      giveUpAfterMs: config.webhooks.giveUpAfterMs,
      timeoutMs: config.webhooks.timeoutMs,
      ...(config.webhooks.env === undefined ? {} : { envEndpoint: config.webhooks.env }),
    },
  });
  // A convenience for the CLI: the server runs on without it.
  await recordLocalServer(config.dataDir, { url: server.url, token: config.tokenGenerated ? config.token : undefined }).catch((error: unknown) =>
    logger.warn({ dataDir: config.dataDir, err: error }, 'could not note the URL and token in the data directory for the CLI'),
  );
  if (format === 'json') {
    // stdout carries JSON lines only, and the token never goes into a log line.
    if (config.tokenGenerated) {
      logger.warn('JOBSTREAM_TOKEN is not set: a token was generated for this run and written to stderr');
      process.stderr.write(`jobstream: generated API token (set JOBSTREAM_TOKEN to choose one): ${config.token}\n`);
    }
  } else {
    printBanner(out, server.url, server.publicUrl, config, misspelt);
  }
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  await dispatcher.close();
}

/** What a person at a terminal sees when the server is up. */
function printBanner(out: NodeJS.WritableStream, url: string, publicUrl: string, config: ServerConfig, misspelt: { name: string; meant: string }[]): void {
  out.write(
    `jobstream listening on ${url}\n` +
      `  dashboard: ${url}/${config.tokenGenerated ? `?token=${config.token}` : '   (sign in with your JOBSTREAM_TOKEN)'}\n` +
      `  providers: ${config.providers.map((p) => `${p.name} (${p.baseUrl})`).join(', ') || 'none configured: set <PROVIDER>_API_KEY'}\n` +
      `  webhooks:  ${publicUrl}/v1/hooks/<provider>/<token>\n` +
      `  data:      ${config.dataDir}\n` +
      (config.tokenGenerated ? `  token:     ${config.token}   (generated; set JOBSTREAM_TOKEN to choose one)\n` : '  token:     from JOBSTREAM_TOKEN\n') +
      misspelt.map(({ name, meant }) => `  warning:   ${name} is not a jobstream setting: did you mean ${meant}?\n`).join('') +
      'Press Ctrl-C to stop.\n',
  );
}
