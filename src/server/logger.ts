import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** The levels `JOBSTREAM_LOG_LEVEL` accepts, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** A pino log level, or `silent`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object per line (for log collectors); `pretty`: one readable line per event. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
/** How log lines are written: see {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Options of {@link createLogger}. */
export interface LoggerConfig {
  /** @default 'info' */
  level?: LogLevel;
  /** @default 'json' */
  format?: LogFormat;
  /** Where lines go. @default process.stdout */
  destination?: NodeJS.WritableStream;
  /** Colours in `pretty` mode. @default whether `destination` is a TTY */
  colorize?: boolean;
}

/** Keys whose values are secrets wherever they appear in a log record (top level, one below, headers). */
const SECRET_KEYS = ['token', 'apiKey', 'api_key', 'secret', 'password', 'authorization', 'cookie'];
/** Keys whose values are URLs or paths: logged with {@link redactUrl} applied. */
const URL_KEYS = new Set(['url', 'path', 'publicUrl']);

const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `headers.${key}`, `*.headers.${key}`]),
  ...['headers["x-api-key"]', '*.headers["x-api-key"]'],
  ...[...URL_KEYS].flatMap((key) => [key, `*.${key}`]),
];

/**
 * Removes secrets from a URL or path before it is logged: the token segment of a webhook path
 * (`/v1/hooks/:provider/:token`), user and password in a URL, and secret-looking query
 * parameters (`token`, `key`, `api_key`, `secret`, `signature`).
 *
 * @example redactUrl('/v1/hooks/klangio/job_1.s3cr3t') // '/v1/hooks/klangio/[redacted]'
 */
export function redactUrl(text: string): string {
  return text
    .replace(/(\/v1\/hooks\/[^/?#\s]*\/)[^/?#\s"]+/g, '$1[redacted]')
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"]+@/gi, '$1[redacted]@')
    .replace(/([?&](?:token|access_token|key|api_?key|secret|signature|sig)=)[^&#\s"]*/gi, '$1[redacted]');
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1];
  if (key !== undefined && URL_KEYS.has(key)) return typeof value === 'string' ? redactUrl(value) : value;
  return '[redacted]';
}

/**
 * Creates the server's logger: pino, one JSON object per line (`"level":"warn"`, ISO `time`,
 * `msg`) or, in `pretty` mode, one readable line per event for a terminal. Secrets are redacted
 * by key wherever they appear (`token`, `apiKey`, `secret`, `authorization`, ...), and webhook
 * tokens are cut out of any logged `url` or `path`.
 *
 * @example
 * const logger = createLogger({ level: 'info', format: process.stdout.isTTY ? 'pretty' : 'json' });
 * await startServer({ providers, token, logger });
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const destination = config.destination ?? process.stdout;
  const format = config.format ?? 'json';
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor },
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
  };
  if (format === 'pretty') {
    const prettify = pinoPretty.prettyFactory({
      colorize: config.colorize ?? (destination as { isTTY?: boolean }).isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
    });
    // Formatted and written in this thread, line by line: no worker, nothing to flush at exit.
    const stream: DestinationStream = { write: (line: string) => void destination.write(prettify(line)) };
    return pino(options, stream);
  }
  return pino(
    { ...options, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => void destination.write(line) },
  );
}

/** A logger that writes nothing: the default of `startServer`, so a library user's output stays theirs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
