import { z } from 'zod';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus as JobStatusSchema, type JobStatus } from '../streams/job-status.js';
import { TokenInfo } from '../server/token-protocol.js';
import { ClientError } from './client-error.js';

/** `GET /v1/retention`: the retention policy and what its sweeps did (see `RetentionStatus`). */
export const RetentionInfo = z.object({
  retainDays: z.number().positive().nullable(),
  lastSweepAt: z.number().nullable(),
  removedTotal: z.number().int().nonnegative(),
  oldestKeptFinishedAt: z.number().nullable(),
});
export type RetentionInfo = z.infer<typeof RetentionInfo>;

const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), issues: z.array(z.object({ field: z.string(), reason: z.string() })).optional() }),
});
const JobAnswer = z.object({ job: JobSnapshot });
/** `total` is absent from servers older than it. */
const ListAnswer = z.object({ jobs: z.array(JobSnapshot), nextCursor: z.string().nullable(), total: z.number().optional() });
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

/** `GET /v1/stats/jobs`: figures computed from the stored jobs (see docs/protocol.md). */
export const JobStatsAnswer = z.object({
  from: z.number(),
  to: z.number(),
  bucketMs: z.number(),
  buckets: z.array(z.object({ start: z.number(), created: z.number(), succeeded: z.number(), failed: z.number(), canceled: z.number() })),
  statusNow: z.record(JobStatusSchema, z.number()),
  durations: z.array(z.object({ provider: z.string(), kind: z.string(), count: z.number(), p50Ms: z.number(), p95Ms: z.number(), maxMs: z.number() })),
  failureRate: z.array(z.object({ provider: z.string(), finished: z.number(), failed: z.number(), rate: z.number() })),
  detectionLag: z.array(z.object({ provider: z.string(), source: z.enum(['webhook', 'poll']), count: z.number(), p50Ms: z.number(), p95Ms: z.number() })),
});
export type JobStatsAnswer = z.infer<typeof JobStatsAnswer>;

/** One lane (provider credential) of `GET /v1/providers/health`. */
export const LaneHealthInfo = z.object({
  lane: z.string(),
  provider: z.string(),
  jobs: z.number(),
  ratePerSecond: z.number(),
  burst: z.number(),
  tokens: z.number(),
  state: z.enum(['ok', 'rate-limited', 'outage']),
  since: z.number().nullable(),
  blockedUntil: z.number().nullable(),
  nextProbeAt: z.number().nullable(),
  failures: z.number(),
  recentErrors: z.array(z.object({ at: z.number(), kind: z.string(), message: z.string() })),
});
export type LaneHealthInfo = z.infer<typeof LaneHealthInfo>;
const HealthAnswer = z.object({ lanes: z.array(LaneHealthInfo) });

/** One answer of `POST /v1/jobs/cancel`: the job as it now is, or why this id could not be cancelled. */
export const BulkCancelResult = z.union([
  z.object({ id: z.string(), job: JobSnapshot }),
  z.object({ id: z.string(), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type BulkCancelResult = z.infer<typeof BulkCancelResult>;
const BulkCancelAnswer = z.object({ results: z.array(BulkCancelResult) });

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
  /** Case-insensitive substring of the name, id, external id or a metadata value. */
  q?: string;
  /** @default 'createdAt' */
  sort?: 'createdAt' | 'updatedAt';
  /** @default 'desc' */
  order?: 'asc' | 'desc';
  /** Only jobs created at or after this time (epoch ms, or an ISO 8601 string). */
  from?: number | string;
  /** Only jobs created at or before this time (epoch ms, or an ISO 8601 string). */
  to?: number | string;
  /** Only the retries of this job. */
  retryOf?: string;
  limit?: number;
  /** The `nextCursor` of the page before, asked with the same sort and order. */
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

  /**
   * The retention policy and what its sweeps did (`GET /v1/retention`, API token): `retainDays`
   * (`null`: jobs are kept forever), `lastSweepAt`, `removedTotal` (by that server process since
   * it started), `oldestKeptFinishedAt`.
   *
   * @example const { retainDays } = await client.retention();
   */
  retention(): Promise<RetentionInfo> {
    return this.#call('GET', '/v1/retention', RetentionInfo);
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

  /**
   * Submits a finished job again as a new job (`POST /v1/jobs/:id/retry`): same provider, kind,
   * input (an upload from the server's kept copy), options, metadata and name, with `retryOf`
   * set. A job whose input cannot be resent is a ClientError `NOT_RETRYABLE` (409) saying why.
   */
  retry(id: string): Promise<JobSnapshot> {
    return this.#call('POST', `/v1/jobs/${encodeURIComponent(id)}/retry`, JobAnswer).then((a) => a.job);
  }

  /**
   * One page of jobs (`GET /v1/jobs`), filtered, searched and sorted; `total` counts the matches
   * on all pages (absent from servers older than it). Pass `nextCursor` as `cursor`, with the
   * same query, for the next page.
   */
  list(query: ListQuery = {}): Promise<{ jobs: JobSnapshot[]; nextCursor: string | null; total?: number | undefined }> {
    const params = new URLSearchParams();
    for (const p of query.providers ?? []) params.append('provider', p);
    for (const k of query.kinds ?? []) params.append('kind', k);
    for (const s of query.statuses ?? []) params.append('status', s);
    for (const i of query.ids ?? []) params.append('id', i);
    if (query.q !== undefined) params.set('q', query.q);
    if (query.sort !== undefined) params.set('sort', query.sort);
    if (query.order !== undefined) params.set('order', query.order);
    if (query.from !== undefined) params.set('from', String(query.from));
    if (query.to !== undefined) params.set('to', String(query.to));
    if (query.retryOf !== undefined) params.set('retryOf', query.retryOf);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const search = params.toString();
    return this.#call('GET', `/v1/jobs${search ? `?${search}` : ''}`, ListAnswer);
  }

  resultFiles(id: string): Promise<{ name: string; contentType: string }[]> {
    return this.#call('GET', `/v1/jobs/${encodeURIComponent(id)}/results`, FilesAnswer).then((a) => a.files);
  }

  /**
   * The URL of a result file (send the token as a bearer header to download it). `disposition:
   * 'inline'` asks for audio, images, text and JSON to be shown rather than saved; `token`, a
   * **scoped** read token (never the API token), goes in the query string so that a plain
   * `<audio src>` or link works.
   */
  resultUrl(id: string, name: string, options: { disposition?: 'inline' | 'attachment'; token?: string } = {}): string {
    const params = new URLSearchParams();
    if (options.disposition !== undefined) params.set('disposition', options.disposition);
    if (options.token !== undefined) params.set('token', options.token);
    const search = params.toString();
    return `${this.#base}/v1/jobs/${encodeURIComponent(id)}/results/${encodeURIComponent(name)}${search ? `?${search}` : ''}`;
  }

  /** A result file's bytes (downloads need the bearer token, so a plain link cannot do). */
  async download(id: string, name: string): Promise<Blob> {
    return (await this.#send('GET', `/v1/jobs/${encodeURIComponent(id)}/results/${encodeURIComponent(name)}`)).blob();
  }

  /** Counters for dashboards. */
  stats(): Promise<ServerStats> {
    return this.#call('GET', '/v1/stats', ServerStats);
  }

  /**
   * Stats computed from the stored jobs (`GET /v1/stats/jobs`): per-bucket counts, status now,
   * durations, failure rates, detection lag. Times are epoch ms; defaults: the last hour, 60 buckets.
   */
  jobStats(query: { from?: number; to?: number; bucketMs?: number } = {}): Promise<JobStatsAnswer> {
    const params = new URLSearchParams();
    for (const key of ['from', 'to', 'bucketMs'] as const) if (query[key] !== undefined) params.set(key, String(query[key]));
    const search = params.toString();
    return this.#call('GET', `/v1/stats/jobs${search ? `?${search}` : ''}`, JobStatsAnswer);
  }

  /** Per provider lane: rate budget, Retry-After block, outage state, recent errors (`GET /v1/providers/health`). */
  providerHealth(): Promise<LaneHealthInfo[]> {
    return this.#call('GET', '/v1/providers/health', HealthAnswer).then((a) => a.lanes);
  }

  /** Cancels up to 500 jobs (`POST /v1/jobs/cancel`); one result per id, in order, each a job or an error. */
  cancelMany(ids: readonly string[]): Promise<BulkCancelResult[]> {
    return this.#call('POST', '/v1/jobs/cancel', BulkCancelAnswer, { ids }).then((a) => a.results);
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
