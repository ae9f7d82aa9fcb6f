import { z } from 'zod';
import { ClientError } from '../client/client-error.js';
import { RestClient } from '../client/rest-client.js';
import { explainConnectError, resolveConnection, type ConnectionTarget } from './client-connection.js';
import { printable } from './terminal-text.js';

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/**
 * A server for the commands that ask once and answer (`show`, `results`, `providers`, `track`,
 * `retry`): REST only, no WebSocket. `rest` makes the typed calls the client knows; `request`
 * sends one raw request, for answers the client library does not model yet (a raw snapshot, a
 * streamed download, the newer endpoints).
 */
export interface ServerRequests {
  readonly target: ConnectionTarget;
  readonly rest: RestClient;
  /**
   * Sends `method path` with the token. A 2xx answer is returned as it is; anything else
   * becomes a {@link ClientError} with the server's code and a printable message (a 404 of a
   * route the server does not have is code `NOT_FOUND`).
   */
  request(method: string, path: string, body?: unknown): Promise<Response>;
  /** {@link ServerRequests.request} and the answer's JSON checked against `schema`. */
  json<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>>;
}

/**
 * Finds the server (see `resolveConnection`) and checks the token once (`GET /v1/token`), so a
 * wrong token or a server that is down is one clear line before anything else happens.
 *
 * @example
 * const server = await openServer(values);
 * const { job } = await server.json('GET', `/v1/jobs/${id}`, z.object({ job: JobSnapshot }));
 */
export async function openServer(values: { server?: string | undefined; token?: string | undefined; data?: string | undefined }): Promise<ServerRequests> {
  const target = await resolveConnection(values);
  const rest = new RestClient(target.url, target.token, fetch);
  try {
    await rest.tokenInfo();
  } catch (error) {
    throw explainConnectError(error, target);
  }
  const base = target.url.replace(/\/+$/, '');
  const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${target.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw explainConnectError(new ClientError('CONNECTION_FAILED', `cannot reach ${base}: ${(error as Error).message}`, { cause: error }), target);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: z.ZodSafeParseResult<z.infer<typeof ErrorBody>> | undefined;
    try {
      parsed = ErrorBody.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    const error =
      parsed?.success === true
        ? new ClientError(parsed.data.error.code, printable(parsed.data.error.message), { status: response.status })
        : new ClientError(`HTTP_${response.status}`, `${method} ${path} answered ${response.status}`, { status: response.status });
    throw explainConnectError(error, target);
  };
  const json = async <S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> => {
    const response = await request(method, path, body);
    let value: unknown;
    try {
      value = await response.json();
    } catch {
      throw new ClientError('BAD_RESPONSE', `${method} ${path} answered ${response.status} with a body that is not JSON`, { status: response.status });
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ClientError('BAD_RESPONSE', printable(`${method} ${path}: unexpected answer (${issue === undefined ? 'invalid' : `${issue.path.join('.') || 'body'}: ${issue.message}`})`));
    }
    return parsed.data;
  };
  return { target, rest, request, json };
}

/** `/v1/jobs/<id>` with the id escaped: a job id from the command line is never a path. */
export function jobPath(id: string, rest = ''): string {
  return `/v1/jobs/${encodeURIComponent(id)}${rest}`;
}
