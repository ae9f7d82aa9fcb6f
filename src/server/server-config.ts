import { randomBytes } from 'node:crypto';
import { PROVIDER_NAMES, PROVIDERS, type ProviderName } from '../providers/provider-catalog.js';
import { JobstreamError } from '../streams/errors.js';
import { JobFilter } from '../streams/job-filter.js';
import { secretProblem } from './outbound/webhook-signing.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';

/** Everything `jobstream serve` runs with, validated. */
export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /** `--redis` / `JOBSTREAM_REDIS_URL`: run as a cluster member on this Redis; undefined = one process. */
  redisUrl: string | undefined;
  /** `JOBSTREAM_POLL_LEASE_MS`: a cluster member's hold on a due poll. */
  pollLeaseMs: number;
  /** `JOBSTREAM_RESULTS_DIR`: where result copies go; undefined = `<dataDir>/results`. */
  resultsDir: string | undefined;
  /** `--retain-days` / `JOBSTREAM_RETAIN_DAYS`: finished jobs are removed this many days after they settled; undefined = kept forever. */
  retainDays: number | undefined;
  /** Base URL providers call back to; undefined = derived from host and port. */
  publicUrl: string | undefined;
  token: string;
  /** True when no JOBSTREAM_TOKEN was set and one was generated (it is printed at start). */
  tokenGenerated: boolean;
  /**
   * Providers with an API key; `pollIntervalMs` overrides the provider's documented default;
   * `webhookKey` (sunoapi only, `SUNOAPI_WEBHOOK_KEY`) makes its callbacks require kie.ai's signature.
   */
  providers: { name: ProviderName; apiKey: string; baseUrl: string; pollIntervalMs?: number; webhookKey?: string }[];
  maxUploadBytes: number;
  maxJsonBytes: number;
  maxWebhookBytes: number;
  /** Let URLs from outside (input URLs, result URLs) reach private addresses (`JOBSTREAM_ALLOW_PRIVATE_URLS`). */
  allowPrivateUrls: boolean;
  ws: {
    maxConnections: number;
    maxSubscriptions: number;
    maxMessageBytes: number;
    heartbeatMs: number;
    lagBytes: number;
    dropBytes: number;
    lagTimeoutMs: number;
  };
  /** Server-Sent Events: the heartbeat comment interval (flow control shares `ws`'s limits). */
  sse: { heartbeatMs: number };
  /** Scoped read tokens: the longest lifetime one may be minted with, in seconds. */
  scopedTokenMaxTtlSeconds: number;
  /** Log level and format; `format` undefined: `pretty` when stdout is a terminal, else `json`. */
  log: { level: LogLevel; format: LogFormat | undefined };
  /**
   * Outbound webhooks: the one endpoint configured by environment (`JOBSTREAM_WEBHOOK_URL`,
   * `_SECRET`, `_FILTER`; its id is `env`), and the delivery policy of every endpoint.
   */
  webhooks: {
    env: { url: string; secret?: string; filter?: JobFilter } | undefined;
    allowPrivateTargets: boolean;
    backoffBaseMs: number;
    backoffCapMs: number;
    giveUpAfterMs: number;
    timeoutMs: number;
  };
}

/** Configuration that does not validate; `problems` lists every bad value at once. */
export class ConfigError extends JobstreamError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('INVALID_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

type Numeric = { kind: 'int'; min: number; max: number };
type OneOf = { kind: 'one-of'; values: readonly string[] };

interface Setting {
  env: string;
  flag?: string;
  default: string | number | undefined;
  description: string;
  type: 'string' | 'url' | 'redis-url' | Numeric | OneOf;
}

const MiB = 1024 * 1024;
const int = (min: number, max = Number.MAX_SAFE_INTEGER): Numeric => ({ kind: 'int', min, max });

/**
 * Every server setting: its environment variable, its command-line flag where it has one (the
 * flag wins), its default and what it does. The README's configuration table lists the same.
 */
export const SERVER_SETTINGS = {
  host: { env: 'JOBSTREAM_HOST', flag: 'host', default: '127.0.0.1', type: 'string', description: 'Interface to listen on.' },
  port: { env: 'JOBSTREAM_PORT', flag: 'port', default: 8080, type: int(0, 65535), description: 'Port to listen on (0 picks a free one).' },
  dataDir: { env: 'JOBSTREAM_DATA_DIR', flag: 'data', default: './data', type: 'string', description: 'Data directory: job store, uploads in transit.' },
  publicUrl: {
    env: 'JOBSTREAM_PUBLIC_URL',
    default: undefined,
    type: 'url',
    description: 'Base URL providers call back to (webhooks). Default: http://<host>:<port>.',
  },
  token: {
    env: 'JOBSTREAM_TOKEN',
    default: undefined,
    type: 'string',
    description: 'API token for REST and WebSocket clients (16+ characters). Default: generated and printed at start.',
  },
  redisUrl: {
    env: 'JOBSTREAM_REDIS_URL',
    flag: 'redis',
    default: undefined,
    type: 'redis-url',
    description:
      'redis://host:port[/db]: run as one member of a cluster, with jobs, change log, poll schedule and rate budgets in this Redis (every member the same URL, token and provider keys). Default: one process, the store in the data directory.',
  },
  pollLeaseMs: {
    env: 'JOBSTREAM_POLL_LEASE_MS',
    default: 60_000,
    type: int(1000, 3_600_000),
    description: 'With --redis: how long a member holds a due poll; a dead member\'s jobs are polled by the others within this long plus one poll interval.',
  },
  retainDays: {
    env: 'JOBSTREAM_RETAIN_DAYS',
    flag: 'retain-days',
    default: undefined,
    type: int(1, 36_500),
    description:
      'Remove finished jobs, with their result copies and kept uploads, this many days after they settled (a sweep at start and every hour). Default: keep every job.',
  },
  resultsDir: {
    env: 'JOBSTREAM_RESULTS_DIR',
    default: undefined,
    type: 'string',
    description: 'Where copies of result files are kept; with --redis every member must share it. Default: <data>/results.',
  },
  maxUploadBytes: { env: 'JOBSTREAM_MAX_UPLOAD_BYTES', default: 200 * MiB, type: int(1), description: 'Largest audio upload.' },
  maxJsonBytes: { env: 'JOBSTREAM_MAX_JSON_BYTES', default: MiB, type: int(1), description: 'Largest JSON request body.' },
  maxWebhookBytes: { env: 'JOBSTREAM_MAX_WEBHOOK_BYTES', default: MiB, type: int(1), description: 'Largest webhook body (413 past it).' },
  wsMaxConnections: { env: 'JOBSTREAM_WS_MAX_CONNECTIONS', default: 10_000, type: int(1), description: 'WebSocket connections per server (503 past it).' },
  wsMaxSubscriptions: { env: 'JOBSTREAM_WS_MAX_SUBSCRIPTIONS', default: 32, type: int(1), description: 'Subscriptions per WebSocket connection.' },
  wsMaxMessageBytes: { env: 'JOBSTREAM_WS_MAX_MESSAGE_BYTES', default: 65_536, type: int(64), description: 'Largest client WebSocket message.' },
  wsHeartbeatMs: { env: 'JOBSTREAM_WS_HEARTBEAT_MS', default: 30_000, type: int(100), description: 'Ping interval; a silent peer is cut within two.' },
  wsLagBytes: { env: 'JOBSTREAM_WS_LAG_BYTES', default: MiB, type: int(1024), description: 'Unsent bytes past which a client gets only the latest state per job.' },
  wsDropBytes: { env: 'JOBSTREAM_WS_DROP_BYTES', default: 8 * MiB, type: int(1024), description: 'Owed bytes past which a slow client is dropped (1013).' },
  wsLagTimeoutMs: { env: 'JOBSTREAM_WS_LAG_TIMEOUT_MS', default: 30_000, type: int(100), description: 'A client lagging this long is dropped (1013).' },
  sseHeartbeatMs: {
    env: 'JOBSTREAM_SSE_HEARTBEAT_MS',
    default: 15_000,
    type: int(100),
    description: 'A comment line this often on each Server-Sent Events stream keeps proxies from closing it.',
  },
  scopedTokenMaxTtl: {
    env: 'JOBSTREAM_SCOPED_TOKEN_MAX_TTL_SECONDS',
    default: 86_400,
    type: int(60, 31 * 86_400),
    description: 'Longest lifetime of a scoped read token (POST /v1/tokens ttlSeconds; the default lifetime is 3600 or this, if less).',
  },
  allowPrivateUrls: {
    env: 'JOBSTREAM_ALLOW_PRIVATE_URLS',
    default: 'false',
    type: { kind: 'one-of', values: ['true', 'false'] },
    description:
      'true lets URLs from outside (input URLs jobstream downloads, result URLs from webhooks) reach loopback, private and link-local addresses. Only for local setups: on a server it lets clients make jobstream fetch from its own network.',
  },
  webhookUrl: {
    env: 'JOBSTREAM_WEBHOOK_URL',
    default: undefined,
    type: 'string',
    description: 'An outbound webhook endpoint (id env) that receives every job change, signed (Standard Webhooks). More endpoints: POST /v1/webhooks.',
  },
  webhookSecret: {
    env: 'JOBSTREAM_WEBHOOK_SECRET',
    default: undefined,
    type: 'string',
    description: 'Signing secret of the env endpoint: whsec_ and the base64 of 24 to 64 random bytes. Default: generated and kept in <data>/webhooks.',
  },
  webhookFilter: {
    env: 'JOBSTREAM_WEBHOOK_FILTER',
    default: undefined,
    type: 'string',
    description: 'Which changes the env endpoint receives: a JSON job filter ({"statuses":["succeeded"]}, ids, providers, kinds, metadata).',
  },
  webhookAllowPrivate: {
    env: 'JOBSTREAM_WEBHOOK_ALLOW_PRIVATE',
    default: '0',
    type: { kind: 'one-of', values: ['0', '1', 'true', 'false'] },
    description: '1 lets outbound webhook endpoints be on loopback, private and link-local addresses (local setups only).',
  },
  webhookBackoffBaseMs: { env: 'JOBSTREAM_WEBHOOK_BACKOFF_BASE_MS', default: 5000, type: int(1, 3_600_000), description: 'Ceiling of the first retry delay of an outbound webhook (full-jitter exponential backoff).' },
  webhookBackoffCapMs: { env: 'JOBSTREAM_WEBHOOK_BACKOFF_CAP_MS', default: 3_600_000, type: int(1, 86_400_000), description: 'Longest delay between two attempts of an outbound webhook.' },
  webhookGiveUpMs: {
    env: 'JOBSTREAM_WEBHOOK_GIVE_UP_AFTER_MS',
    default: 259_200_000,
    type: int(1000),
    description: 'An outbound webhook delivery still failing this long after it was recorded is given up (default 3 days).',
  },
  webhookTimeoutMs: { env: 'JOBSTREAM_WEBHOOK_TIMEOUT_MS', default: 10_000, type: int(100, 300_000), description: 'Longest wait for a webhook receiver to answer.' },
  logLevel: {
    env: 'JOBSTREAM_LOG_LEVEL',
    default: 'info',
    type: { kind: 'one-of', values: LOG_LEVELS },
    description: `Least severe log level written: ${LOG_LEVELS.join(', ')}.`,
  },
  logFormat: {
    env: 'JOBSTREAM_LOG_FORMAT',
    default: undefined,
    type: { kind: 'one-of', values: LOG_FORMATS },
    description: 'Log lines as json (one object per line) or pretty (for people). Default: pretty when stdout is a terminal, else json.',
  },
} as const satisfies Record<string, Setting>;

/**
 * Every environment variable the server reads: the settings above and, for each provider,
 * `<PREFIX>_API_KEY`, `<PREFIX>_BASE_URL` and `<PREFIX>_POLL_INTERVAL_MS` (and `SUNOAPI_WEBHOOK_KEY`). For telling a
 * misspelt name (`KLANGIO_APIKEY`) from one that is not meant for jobstream at all.
 */
export function serverEnvNames(): string[] {
  return [
    ...Object.values(SERVER_SETTINGS).map((setting) => setting.env),
    ...PROVIDER_NAMES.flatMap((name) => ['API_KEY', 'BASE_URL', 'POLL_INTERVAL_MS'].map((suffix) => `${PROVIDERS[name].envPrefix}_${suffix}`)),
    `${PROVIDERS.sunoapi.envPrefix}_WEBHOOK_KEY`,
  ];
}

/** Flag values given on the command line (strings, as parsed). */
export type ServeFlags = Partial<Record<'host' | 'port' | 'data' | 'redis' | 'retain-days', string>>;

/**
 * Reads and validates the server configuration once: flags first, then the environment, then
 * defaults. Providers are configured by `<PROVIDER>_API_KEY` (and optionally
 * `<PROVIDER>_BASE_URL`, else the real API). Throws {@link ConfigError} listing every problem.
 *
 * @example const config = loadServerConfig(process.env, { port: '8080' });
 */
export function loadServerConfig(env: Readonly<Record<string, string | undefined>>, flags: ServeFlags = {}): ServerConfig {
  const problems: string[] = [];
  const read = <K extends keyof typeof SERVER_SETTINGS>(key: K): string | number | undefined => {
    const setting: Setting = SERVER_SETTINGS[key];
    const fromFlag = setting.flag === undefined ? undefined : flags[setting.flag as keyof ServeFlags];
    const raw = fromFlag ?? env[setting.env];
    const where = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
    if (raw === undefined || raw === '') return setting.default;
    if (setting.type === 'string') return raw;
    if (setting.type === 'url') {
      if (!isHttpUrl(raw)) problems.push(`${where} must be an http(s) URL, got "${raw}"`);
      return raw.replace(/\/+$/, '');
    }
    if (setting.type === 'redis-url') {
      // Never echo it: a Redis URL may carry a password.
      if (!/^rediss?:\/\/[^\s]+$/.test(raw)) problems.push(`${where} must be a redis:// (or rediss://) URL`);
      return raw;
    }
    if (setting.type.kind === 'one-of') {
      const value = raw.trim().toLowerCase();
      if (setting.type.values.includes(value)) return value;
      problems.push(`${where} must be one of ${setting.type.values.join(', ')}, got "${raw}"`);
      return setting.default;
    }
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < setting.type.min || n > setting.type.max) {
      problems.push(`${where} must be a whole number from ${setting.type.min}${setting.type.max < Number.MAX_SAFE_INTEGER ? ` to ${setting.type.max}` : ''}, got "${raw}"`);
      return setting.default;
    }
    return n;
  };

  const token = read('token') as string | undefined;
  if (token !== undefined && token.length < 16) problems.push('JOBSTREAM_TOKEN must be at least 16 characters (or unset it to have one generated)');

  const providers: ServerConfig['providers'] = [];
  for (const name of PROVIDER_NAMES) {
    const { envPrefix, defaultBaseUrl } = PROVIDERS[name];
    const apiKey = env[`${envPrefix}_API_KEY`];
    const baseUrl = env[`${envPrefix}_BASE_URL`];
    // Only sunoapi.org resellers (kie.ai) sign callbacks.
    const webhookKey = name === 'sunoapi' ? env[`${envPrefix}_WEBHOOK_KEY`] : undefined;
    if (baseUrl !== undefined && baseUrl !== '' && !isHttpUrl(baseUrl)) problems.push(`${envPrefix}_BASE_URL must be an http(s) URL, got "${baseUrl}"`);
    if (apiKey === undefined || apiKey === '') {
      if (baseUrl !== undefined && baseUrl !== '') problems.push(`${envPrefix}_BASE_URL is set but ${envPrefix}_API_KEY is not`);
      if (webhookKey !== undefined && webhookKey !== '') problems.push(`${envPrefix}_WEBHOOK_KEY is set but ${envPrefix}_API_KEY is not`);
      continue;
    }
    const interval = env[`${envPrefix}_POLL_INTERVAL_MS`];
    let pollIntervalMs: number | undefined;
    if (interval !== undefined && interval !== '') {
      pollIntervalMs = Number(interval);
      if (!/^\d+$/.test(interval.trim()) || pollIntervalMs < 100) {
        problems.push(`${envPrefix}_POLL_INTERVAL_MS must be a whole number of milliseconds from 100, got "${interval}"`);
        pollIntervalMs = undefined;
      }
    }
    providers.push({
      name,
      apiKey,
      baseUrl: baseUrl !== undefined && baseUrl !== '' ? baseUrl.replace(/\/+$/, '') : defaultBaseUrl,
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(webhookKey === undefined || webhookKey === '' ? {} : { webhookKey }),
    });
  }

  const config: ServerConfig = {
    host: read('host') as string,
    port: read('port') as number,
    dataDir: read('dataDir') as string,
    redisUrl: read('redisUrl') as string | undefined,
    pollLeaseMs: read('pollLeaseMs') as number,
    resultsDir: read('resultsDir') as string | undefined,
    retainDays: read('retainDays') as number | undefined,
    publicUrl: read('publicUrl') as string | undefined,
    token: token ?? randomBytes(24).toString('base64url'),
    tokenGenerated: token === undefined,
    providers,
    maxUploadBytes: read('maxUploadBytes') as number,
    maxJsonBytes: read('maxJsonBytes') as number,
    maxWebhookBytes: read('maxWebhookBytes') as number,
    allowPrivateUrls: read('allowPrivateUrls') === 'true',
    ws: {
      maxConnections: read('wsMaxConnections') as number,
      maxSubscriptions: read('wsMaxSubscriptions') as number,
      maxMessageBytes: read('wsMaxMessageBytes') as number,
      heartbeatMs: read('wsHeartbeatMs') as number,
      lagBytes: read('wsLagBytes') as number,
      dropBytes: read('wsDropBytes') as number,
      lagTimeoutMs: read('wsLagTimeoutMs') as number,
    },
    sse: { heartbeatMs: read('sseHeartbeatMs') as number },
    scopedTokenMaxTtlSeconds: read('scopedTokenMaxTtl') as number,
    log: { level: read('logLevel') as LogLevel, format: read('logFormat') as LogFormat | undefined },
    webhooks: { env: undefined, allowPrivateTargets: false, backoffBaseMs: 5000, backoffCapMs: 3_600_000, giveUpAfterMs: 259_200_000, timeoutMs: 10_000 },
  };
  const webhookUrl = read('webhookUrl') as string | undefined;
  const webhookSecret = read('webhookSecret') as string | undefined;
  const webhookFilterText = read('webhookFilter') as string | undefined;
  let webhookFilter: JobFilter | undefined;
  if (webhookUrl !== undefined && !isHttpUrl(webhookUrl)) problems.push('JOBSTREAM_WEBHOOK_URL must be an http(s) URL');
  if (webhookSecret !== undefined) {
    // Never echo it.
    const problem = secretProblem(webhookSecret);
    if (problem !== undefined) problems.push(`JOBSTREAM_WEBHOOK_SECRET: ${problem}`);
  }
  if (webhookFilterText !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(webhookFilterText) as unknown;
    } catch {
      value = undefined;
      problems.push('JOBSTREAM_WEBHOOK_FILTER must be JSON, e.g. {"statuses":["succeeded"]}');
    }
    if (value !== undefined) {
      const parsed = JobFilter.strict().safeParse(value);
      if (parsed.success) webhookFilter = parsed.data;
      else problems.push(`JOBSTREAM_WEBHOOK_FILTER is not a job filter: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
  }
  if ((webhookSecret !== undefined || webhookFilterText !== undefined) && webhookUrl === undefined) {
    problems.push('JOBSTREAM_WEBHOOK_SECRET or JOBSTREAM_WEBHOOK_FILTER is set but JOBSTREAM_WEBHOOK_URL is not');
  }
  config.webhooks = {
    env:
      webhookUrl === undefined
        ? undefined
        : { url: webhookUrl, ...(webhookSecret === undefined ? {} : { secret: webhookSecret }), ...(webhookFilter === undefined ? {} : { filter: webhookFilter }) },
    allowPrivateTargets: ['1', 'true'].includes(read('webhookAllowPrivate') as string),
    backoffBaseMs: read('webhookBackoffBaseMs') as number,
    backoffCapMs: read('webhookBackoffCapMs') as number,
    giveUpAfterMs: read('webhookGiveUpMs') as number,
    timeoutMs: read('webhookTimeoutMs') as number,
  };
  if (config.ws.dropBytes <= config.ws.lagBytes) problems.push('JOBSTREAM_WS_DROP_BYTES must be larger than JOBSTREAM_WS_LAG_BYTES');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
