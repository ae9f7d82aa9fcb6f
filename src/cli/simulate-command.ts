import { parseArgs } from 'node:util';
import { isProviderName, PROVIDER_NAMES, PROVIDERS } from '../providers/provider-catalog.js';
import { faultPresets, mergeFaults, type FaultProfile } from '../simulators/kit/fault-profile.js';
import { simulatorBaseUrl, startSimulator } from '../simulators/simulator-catalog.js';
import { numberOption, UsageError } from './cli-error.js';

export const SIMULATE_HELP = `Usage: jobstream simulate <${PROVIDER_NAMES.join('|')}> [options]

Runs one provider simulator: a local HTTP server that speaks the provider's API, runs
jobs on a clock and sends webhooks the way the provider does. It prints its base URL and
the API key it accepts, then serves until Ctrl-C.

Options:
  --port <n>              port on 127.0.0.1 (default: any free port)
  --key <api-key>         API key to accept (default: a random one, printed)
  --speed <x>             clock speed; 1 = jobs take a few seconds (default 1)
  --seed <n>              seed for every random decision (default: random)
  --faults <preset>       none | mild | hostile (default none)
  --error-rate <0..1>     share of API answers that are 5xx
  --fail-rate <0..1>      share of jobs that end in the provider's failure state
  --latency <ms>          added latency per answer
  --rate-limit <n/ms>     answer 429 (sunoapi: body code 430) past n requests per window, e.g. 20/10000
  --webhook-duplicate <r> share of webhooks delivered twice
  --webhook-drop <r>      share of webhooks never delivered
  --webhook-reorder <r>   share of webhooks held back behind the next one
  -h, --help              this help

Examples:
  jobstream simulate klangio --port 4100 --key dev-key
  jobstream simulate sunoapi --faults hostile --seed 7
  KLANGIO_BASE_URL=http://127.0.0.1:4100 KLANGIO_API_KEY=dev-key jobstream serve`;

/** `jobstream simulate`: runs one simulator until SIGINT/SIGTERM. */
export async function simulateCommand(argv: string[], out: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      key: { type: 'string' },
      speed: { type: 'string' },
      seed: { type: 'string' },
      faults: { type: 'string' },
      'error-rate': { type: 'string' },
      'fail-rate': { type: 'string' },
      latency: { type: 'string' },
      'rate-limit': { type: 'string' },
      'webhook-duplicate': { type: 'string' },
      'webhook-drop': { type: 'string' },
      'webhook-reorder': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    out.write(`${SIMULATE_HELP}\n`);
    return;
  }
  const [provider, ...extra] = positionals;
  if (provider === undefined || !isProviderName(provider)) {
    throw new UsageError(`simulate needs a provider: ${PROVIDER_NAMES.join(', ')}${provider === undefined ? '' : ` (got "${provider}")`}`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const faults = faultsFrom(values);
  const port = numberOption('port', values.port, { min: 0, max: 65535, integer: true });
  const speed = numberOption('speed', values.speed, { min: 0.001 });
  const seed = numberOption('seed', values.seed, { integer: true });

  const simulator = await startSimulator(provider, {
    faults,
    ...(port === undefined ? {} : { port }),
    ...(speed === undefined ? {} : { speed }),
    ...(seed === undefined ? {} : { seed }),
    ...(values.key === undefined ? {} : { apiKey: values.key }),
  });
  const prefix = PROVIDERS[provider].envPrefix;
  const base = simulatorBaseUrl(provider, simulator);
  out.write(
    `${PROVIDERS[provider].title} simulator listening\n` +
      `  base URL: ${base}\n` +
      `  API key:  ${simulator.apiKey}\n\n` +
      `Point jobstream at it with:\n  ${prefix}_BASE_URL=${base} ${prefix}_API_KEY=${simulator.apiKey}\n\nPress Ctrl-C to stop.\n`,
  );
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await simulator.close();
}

function faultsFrom(values: Record<string, string | boolean | undefined>): FaultProfile {
  const preset = (values.faults as string | undefined) ?? 'none';
  if (preset !== 'none' && preset !== 'mild' && preset !== 'hostile') {
    throw new UsageError(`--faults must be none, mild or hostile, got "${preset}"`);
  }
  const rate = (name: string) => numberOption(name, values[name] as string | undefined, { min: 0, max: 1 });
  const latency = numberOption('latency', values.latency as string | undefined, { min: 0 });
  let rateLimit: FaultProfile['rateLimit'] | undefined;
  const limit = values['rate-limit'] as string | undefined;
  if (limit !== undefined) {
    const match = /^(\d+)\/(\d+)$/.exec(limit);
    if (match === null) throw new UsageError(`--rate-limit must look like <requests>/<window ms>, e.g. 20/10000, got "${limit}"`);
    rateLimit = { limit: Number(match[1]), windowMs: Number(match[2]), retryAfterSeconds: Math.max(1, Math.ceil(Number(match[2]) / 1000)) };
  }
  const webhook = {
    ...(rate('webhook-duplicate') === undefined ? {} : { duplicateRate: rate('webhook-duplicate') }),
    ...(rate('webhook-drop') === undefined ? {} : { dropRate: rate('webhook-drop') }),
    ...(rate('webhook-reorder') === undefined ? {} : { reorderRate: rate('webhook-reorder') }),
  };
  return mergeFaults(faultPresets[preset], {
    webhook,
    ...(rate('error-rate') === undefined ? {} : { serverErrorRate: rate('error-rate') }),
    ...(rate('fail-rate') === undefined ? {} : { jobFailureRate: rate('fail-rate') }),
    ...(latency === undefined ? {} : { latencyMs: { min: latency, max: latency } }),
    ...(rateLimit === undefined ? {} : { rateLimit }),
  } as Parameters<typeof mergeFaults>[1]);
}
