import { ClientError, connect, type RemoteClient } from '../client/node.js';
import { UsageError } from './cli-error.js';
import { readLocalServer, TOKEN_FILE } from './local-server.js';

/** The options every client command takes (for `parseArgs`). */
export const connectionOptions = {
  server: { type: 'string' },
  token: { type: 'string' },
  data: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The "Connection:" part of each client command's help. */
export const CONNECTION_HELP = `Connection:
  --server <url>      the jobstream server (env JOBSTREAM_URL; default: the one whose data
                      directory is ./data, else http://127.0.0.1:8080)
  --token <token>     its API token (env JOBSTREAM_TOKEN; default: the token the demo or
                      serve keeps in <data>/${TOKEN_FILE})
  --data <dir>        the data directory of a server on this machine (env JOBSTREAM_DATA_DIR,
                      default ./data)`;

/** Where the CLI connects to and with which token, and where each came from (for messages). */
export interface ConnectionTarget {
  url: string;
  urlFrom: string;
  token: string;
  tokenFrom: string;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';

/**
 * Works out the server and token of a client command, first found wins: the flags, then
 * `JOBSTREAM_URL` / `JOBSTREAM_TOKEN`, then what a demo or `serve` on this machine noted in its
 * data directory, then `http://127.0.0.1:8080`. The data directory's token is only sent to the
 * server that data directory belongs to, never to a URL given some other way.
 *
 * @throws {UsageError} for a URL without an http(s) scheme, or when no token is to be found.
 */
export async function resolveConnection(
  values: { server?: string | undefined; token?: string | undefined; data?: string | undefined },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ConnectionTarget> {
  const dataDir = values.data ?? nonEmpty(env.JOBSTREAM_DATA_DIR) ?? './data';
  const local = await readLocalServer(dataDir);
  const [url, urlFrom] =
    values.server !== undefined
      ? [values.server, '--server']
      : nonEmpty(env.JOBSTREAM_URL) !== undefined
        ? [env.JOBSTREAM_URL as string, 'JOBSTREAM_URL']
        : local.url !== undefined
          ? [local.url, `${dataDir}/server-url`]
          : [DEFAULT_URL, 'the default'];
  checkUrl(url, urlFrom);
  const sameServer = local.url !== undefined && sameOrigin(local.url, url);
  const [token, tokenFrom] =
    values.token !== undefined
      ? [values.token, '--token']
      : nonEmpty(env.JOBSTREAM_TOKEN) !== undefined
        ? [env.JOBSTREAM_TOKEN as string, 'JOBSTREAM_TOKEN']
        : sameServer && local.token !== undefined
          ? [local.token, `${dataDir}/${TOKEN_FILE}`]
          : [undefined, ''];
  if (token === undefined || token === '') {
    throw new UsageError(`no API token for ${url}: pass --token or set JOBSTREAM_TOKEN (the demo prints an "export JOBSTREAM_TOKEN=…" line)`);
  }
  return { url, urlFrom, token, tokenFrom };
}

/**
 * Connects a client command to its server (see {@link resolveConnection}), with one clear
 * line for each way that fails: a refused token (401), a server that cannot be reached.
 */
export async function openClient(values: { server?: string | undefined; token?: string | undefined; data?: string | undefined }): Promise<RemoteClient> {
  const target = await resolveConnection(values);
  try {
    return await connect({ url: target.url, token: target.token });
  } catch (error) {
    throw explainConnectError(error, target);
  }
}

/** A connection failure as one line that says what to do. */
export function explainConnectError(error: unknown, target: ConnectionTarget): unknown {
  if (!(error instanceof ClientError)) return error;
  if (error.code === 'UNAUTHORIZED' || error.status === 401) {
    return new ClientError(error.code, `the server at ${target.url} refused the token from ${target.tokenFrom} (401 Unauthorized): check --token or JOBSTREAM_TOKEN`, {
      status: 401,
      cause: error,
    });
  }
  if (error.code === 'CONNECTION_FAILED') {
    const reason = networkReason(error.cause);
    return new ClientError(
      error.code,
      `cannot reach the server at ${target.url} (${reason}; URL from ${target.urlFrom}): is it running? Start one with "npm start" or "jobstream serve", or pass --server`,
      { cause: error },
    );
  }
  return error;
}

/** Undici buries the system error a cause or two deep: `fetch failed` ← `connect ECONNREFUSED …`. */
function networkReason(error: unknown): string {
  const named: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'no such host',
    EAI_AGAIN: 'no such host',
    ETIMEDOUT: 'timed out',
    UND_ERR_CONNECT_TIMEOUT: 'timed out',
    ECONNRESET: 'connection reset',
    UND_ERR_SOCKET: 'connection reset',
  };
  let cause: unknown = error;
  let innermost = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && cause instanceof Error; depth += 1) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== undefined && named[code] !== undefined) return named[code];
    innermost = cause.message;
    cause = cause.cause;
  }
  return innermost;
}

function checkUrl(url: string, from: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  // "localhost:8080" parses, as the scheme "localhost:": only http(s) will do.
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.host === '') {
    const hint = /^[\w.-]+:\d+(\/|$)/.test(url) || /^[\w.-]+(\/|$)/.test(url) ? `, e.g. http://${url}` : '';
    throw new UsageError(`${from} must be an http:// or https:// URL${hint}; got "${url}" (the scheme is missing or wrong)`);
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
