import { z } from 'zod';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus as JobStatusSchema, type JobStatus } from '../streams/job-status.js';
import { TokenInfo } from '../server/token-protocol.js';
import { ClientError } from './client-error.js';

const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), issues: z.array(z.object({ field: z.string(), reason: z.string() })).optional() }),
});
const JobAnswer = z.object({ job: JobSnapshot });
const ListAnswer = z.object({ jobs: z.array(JobSnapshot), nextCursor: z.string().nullable() });
/**
 * One provider of `GET /v1/providers`: its job kinds and what a cancel does there (`provider`:
 * cancelled at the provider; `tracking-only`: only no longer followed, it may still run and be
 * billed). `cancel` is absent from servers older than it; treat that as unknown.
 */
export const ProviderInfo = z.object({ name: z.string(), kinds: z.array(z.string()), cancel: z.enum(['provider', 'tracking-only']).optional() });
export type ProviderInfo = z.infer<typeof ProviderInfo>;
const ProvidersAnswer = z.object({ providers: z.array(ProviderInfo) });
const FilesAnswer = z.object({ files: z.array(z.object({ name: z.string(), contentType: z.string() })) });

/** `GET /v1/stats`: jobs by status, webhooks and polls by outcome (since the server started). */
export const ServerStats = z.object({
  jobs: z.record(JobStatusSchema, z.number()),
  webhooks: z.object({ applied: z.number(), duplicate: z.number(), rejected: z.number() }),
  polls: z.record(z.string(), z.number()),
});
export type ServerStats = z.infer<typeof ServerStats>;

/** One entry of a job's history (`GET /v1/jobs/:id/changes`). */
export const HistoryEntry = z.object({ seq: z.number(), job: JobSnapshot, previousStatus: JobStatusSchema.nullable() });
export type HistoryEntry = z.infer<typeof HistoryEntry>;
const HistoryAnswer = z.object({ changes: z.array(HistoryEntry) });

/** Filters and paging of {@link RestClient.list}. */
export interface ListQuery {
  providers?: string[];
  kinds?: string[];
  statuses?: JobStatus[];
  ids?: string[];
  limit?: number;
  cursor?: string;
}

/**
 * The REST half of the client: typed calls with the server's errors turned into
 * {@link ClientError}s. Works with any `fetch` (browsers, Node 20).
 */
export class RestClient {
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(base: string, token: string, fetchImpl: typeof fetch) {
    this.#base = base.replace(/\/+$/, '');
    this.#token = token;
    this.#fetch = fetchImpl;
  }

  /**
   * What the token may do (`GET /v1/token`): `{ type: 'admin' }` for the API token, or
   * `{ type: 'scoped', filter, expiresAt }` for a scoped read token (it reads only the jobs of
   * `filter`; submitting, cancelling, stats and providers answer 403 `SCOPE_FORBIDDEN`).
   */
  tokenInfo(): Promise<TokenInfo> {
    return this.#call('GET', '/v1/token', TokenInfo);
  }

  providers(): Promise<ProviderInfo[]> {
    return this.#call('GET', '/v1/providers', ProvidersAnswer).then((a) => a.providers);
  }

  /** Creates a job: JSON, or multipart when `body` is a FormData (a file upload). */
  create(body: unknown): Promise<JobSnapshot> {
    return this.#call('POST', '/v1/jobs', JobAnswer, body).then((a) => a.job);
  }

  track(body: unknown): Promise<JobSnapshot> {
    return this.#call('POST', '/v1/jobs/track', JobAnswer, body).then((a) => a.job);
  }

  /** The job, or `undefined` when the server has no job with that id. */
  async get(id: string): Promise<JobSnapshot | undefined> {
    try {
      return (await this.#call('GET', `/v1/jobs/${encodeURIComponent(id)}`, JobAnswer)).job;
    } catch (error) {
      if (error instanceof ClientError && error.code === 'UNKNOWN_JOB') return undefined;
      throw error;
    }
  }

  cancel(id: string): Promise<JobSnapshot> {
    return this.#call('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, JobAnswer).then((a) => a.job);
  }

  list(query: ListQuery = {}): Promise<{ jobs: JobSnapshot[]; nextCursor: string | null }> {
    const params = new URLSearchParams();
    for (const p of query.providers ?? []) params.append('provider', p);
    for (const k of query.kinds ?? []) params.append('kind', k);
    for (const s of query.statuses ?? []) params.append('status', s);
    for (const i of query.ids ?? []) params.append('id', i);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const search = params.toString();
    return this.#call('GET', `/v1/jobs${search ? `?${search}` : ''}`, ListAnswer);
  }

  resultFiles(id: string): Promise<{ name: string; contentType: string }[]> {
    return this.#call('GET', `/v1/jobs/${encodeURIComponent(id)}/results`, FilesAnswer).then((a) => a.files);
  }

  /** The URL of a result file (send the token as a bearer header to download it). */
  resultUrl(id: string, name: string): string {
    return `${this.#base}/v1/jobs/${encodeURIComponent(id)}/results/${encodeURIComponent(name)}`;
  }

  /** A result file's bytes (downloads need the bearer token, so a plain link cannot do). */
  async download(id: string, name: string): Promise<Blob> {
    return (await this.#send('GET', `/v1/jobs/${encodeURIComponent(id)}/results/${encodeURIComponent(name)}`)).blob();
  }

  /** Counters for dashboards. */
  stats(): Promise<ServerStats> {
    return this.#call('GET', '/v1/stats', ServerStats);
  }

  /** The changes of one job the server still keeps (its change log is bounded), oldest first. */
  history(id: string): Promise<HistoryEntry[]> {
    return this.#call('GET', `/v1/jobs/${encodeURIComponent(id)}/changes`, HistoryAnswer).then((a) => a.changes);
  }

  async #call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const response = await this.#send(method, path, body);
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ClientError('BAD_RESPONSE', `${method} ${path} answered ${response.status} with a body that is not JSON`, { status: response.status });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ClientError('BAD_RESPONSE', `${method} ${path}: unexpected answer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    return parsed.data;
  }

  /** Sends a request; a non-2xx answer becomes a ClientError with the server's code. */
  async #send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await this.#fetch(`${this.#base}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    } catch (error) {
      throw new ClientError('CONNECTION_FAILED', `cannot reach ${this.#base}: ${(error as Error).message}`, { cause: error });
    }
    if (response.ok) return response;
    const error = ErrorBody.safeParse(await response.json().catch(() => undefined));
    if (error.success) {
      const { code, message, issues } = error.data.error;
      throw new ClientError(code, message, { status: response.status, ...(issues === undefined ? {} : { issues }) });
    }
    throw new ClientError(`HTTP_${response.status}`, `${method} ${path} answered ${response.status}`, { status: response.status });
  }
}
