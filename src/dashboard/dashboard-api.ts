/// <reference lib="dom" />
/**
 * The dashboard's calls to the #15 endpoints (list with search and paging, stats over time,
 * provider health, retention, retry, bulk cancel, short-lived scoped tokens). Answers are
 * checked with zod, leniently: a field a newer server adds is ignored, one an older server
 * lacks is `undefined` where the view can do without it.
 */
import { z } from 'zod';
import { ClientError, type JobSnapshot as JobSnapshotType, type JobStatus } from '../client/index.js';
import type { HistoryEntry, ServerStats } from '../client/rest-client.js';
import { JobSnapshot } from '../streams/job-snapshot.js';

/** The counters of `GET /v1/stats`. */
export type Stats = ServerStats;
export type { HistoryEntry };

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** `GET /v1/jobs` with the #15 fields; `total` is absent from older servers. */
export const JobPage = z.object({ jobs: z.array(JobSnapshot), nextCursor: z.string().nullable(), total: z.number().optional() });
export type JobPage = z.infer<typeof JobPage>;

/** What the table asks `GET /v1/jobs` for. */
export interface JobQuery {
  q?: string;
  sort?: 'createdAt' | 'updatedAt';
  order?: 'asc' | 'desc';
  from?: number;
  to?: number;
  statuses?: readonly JobStatus[];
  providers?: readonly string[];
  kinds?: readonly string[];
  retryOf?: string;
  limit?: number;
  cursor?: string;
}

const Bucket = z.object({ start: z.number(), created: z.number(), succeeded: z.number(), failed: z.number(), canceled: z.number() });
/** `GET /v1/stats/jobs`: jobs over time, durations, failure rates and detection lag, from the stored jobs. */
export const JobStats = z.object({
  from: z.number(),
  to: z.number(),
  bucketMs: z.number(),
  buckets: z.array(Bucket),
  statusNow: z.record(z.string(), z.number()),
  durations: z.array(z.object({ provider: z.string(), kind: z.string(), count: z.number(), p50Ms: z.number().nullable(), p95Ms: z.number().nullable(), maxMs: z.number().nullable() })),
  failureRate: z.array(z.object({ provider: z.string(), finished: z.number(), failed: z.number(), rate: z.number().nullable() })),
  detectionLag: z.array(z.object({ provider: z.string(), source: z.string(), count: z.number(), p50Ms: z.number().nullable(), p95Ms: z.number().nullable() })),
});
export type JobStats = z.infer<typeof JobStats>;

/** One credential lane of `GET /v1/providers/health`. */
export const LaneHealth = z.object({
  lane: z.string(),
  provider: z.string(),
  jobs: z.number().nullable().optional(),
  ratePerSecond: z.number().nullable(),
  burst: z.number().nullable(),
  tokens: z.number().nullable(),
  state: z.string(),
  since: z.number().nullable(),
  blockedUntil: z.number().nullable(),
  nextProbeAt: z.number().nullable(),
  failures: z.number(),
  recentErrors: z.array(z.object({ at: z.number(), kind: z.string(), message: z.string() })),
});
export type LaneHealth = z.infer<typeof LaneHealth>;
const HealthAnswer = z.object({ lanes: z.array(LaneHealth) });

/** `GET /v1/retention`: how long finished jobs are kept. */
export const Retention = z.object({ retainDays: z.number().nullable(), lastSweepAt: z.number().nullable(), removedTotal: z.number(), oldestKeptFinishedAt: z.number().nullable() });
export type Retention = z.infer<typeof Retention>;

const JobAnswer = z.object({ job: JobSnapshot });
/** One answer of `POST /v1/jobs/cancel`. */
export const CancelResult = z.union([z.object({ id: z.string(), job: JobSnapshot }), z.object({ id: z.string(), error: z.object({ code: z.string(), message: z.string() }) })]);
export type CancelResult = z.infer<typeof CancelResult>;
const CancelAnswer = z.object({ results: z.array(CancelResult) });
const Minted = z.object({ token: z.string(), expiresAt: z.number() });

/**
 * Typed calls for the dashboard, with the server's errors as {@link ClientError}s.
 *
 * @example const page = await new DashboardApi(base, token).jobs({ q: 'riff', limit: 50 });
 */
export class DashboardApi {
  readonly #base: string;
  readonly #token: string;

  constructor(base: string, token: string) {
    this.#base = base.replace(/\/+$/, '');
    this.#token = token;
  }

  /** A page of jobs matching the query (`GET /v1/jobs`). */
  jobs(query: JobQuery): Promise<JobPage> {
    return this.#call('GET', `/v1/jobs?${jobQueryParams(query).toString()}`, JobPage);
  }

  /** Jobs over time (`GET /v1/stats/jobs`). */
  jobStats(from: number, to: number, bucketMs: number): Promise<JobStats> {
    return this.#call('GET', `/v1/stats/jobs?from=${from}&to=${to}&bucketMs=${bucketMs}`, JobStats);
  }

  /** Every credential lane's state (`GET /v1/providers/health`). */
  health(): Promise<LaneHealth[]> {
    return this.#call('GET', '/v1/providers/health', HealthAnswer).then((a) => a.lanes);
  }

  retention(): Promise<Retention> {
    return this.#call('GET', '/v1/retention', Retention);
  }

  /** A new job with the same request, linked to the old one (`POST /v1/jobs/:id/retry`). */
  retry(id: string): Promise<JobSnapshotType> {
    return this.#call('POST', `/v1/jobs/${encodeURIComponent(id)}/retry`, JobAnswer).then((a) => a.job);
  }

  /** Cancels up to 500 jobs at once (`POST /v1/jobs/cancel`), one result per id. */
  cancelMany(ids: readonly string[]): Promise<CancelResult[]> {
    return this.#call('POST', '/v1/jobs/cancel', CancelAnswer, { ids }).then((a) => a.results);
  }

  /** A read token for these jobs only, for `<audio src>` (a short `ttlSeconds`). */
  readToken(ids: readonly string[], ttlSeconds: number): Promise<string> {
    return this.#call('POST', '/v1/tokens', Minted, { filter: { ids }, ttlSeconds }).then((a) => a.token);
  }

  async #call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.#base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw new ClientError('CONNECTION_FAILED', `cannot reach the server: ${(error as Error).message}`, { cause: error });
    }
    const json: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = ErrorBody.safeParse(json);
      if (error.success) throw new ClientError(error.data.error.code, error.data.error.message, { status: response.status });
      throw new ClientError(`HTTP_${response.status}`, `${method} ${path.split('?')[0] ?? path} answered ${response.status}`, { status: response.status });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ClientError('BAD_RESPONSE', `${method} ${path.split('?')[0] ?? path}: unexpected answer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    return parsed.data;
  }
}

/** The query string of `GET /v1/jobs` for a {@link JobQuery}. */
export function jobQueryParams(query: JobQuery): URLSearchParams {
  const params = new URLSearchParams();
  if (query.q !== undefined && query.q !== '') params.set('q', query.q);
  if (query.sort !== undefined) params.set('sort', query.sort);
  if (query.order !== undefined) params.set('order', query.order);
  if (query.from !== undefined) params.set('from', String(query.from));
  if (query.to !== undefined) params.set('to', String(query.to));
  for (const s of query.statuses ?? []) params.append('status', s);
  for (const p of query.providers ?? []) params.append('provider', p);
  for (const k of query.kinds ?? []) params.append('kind', k);
  if (query.retryOf !== undefined) params.set('retryOf', query.retryOf);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (query.cursor !== undefined) params.set('cursor', query.cursor);
  return params;
}

/** The job a job retries (`retryOf`), from servers that have it. */
export function retryOf(job: JobSnapshotType): string | null {
  const value = (job as { retryOf?: unknown }).retryOf;
  return typeof value === 'string' ? value : null;
}

/**
 * Whether the page offers Retry: failed or canceled jobs. The server decides the rest (a
 * tracked job or an old record is 409 `NOT_RETRYABLE`, with the reason shown by the button).
 */
export function mayRetry(job: JobSnapshotType): boolean {
  return job.status === 'failed' || job.status === 'canceled';
}

/** Hands a Blob to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cut the download short in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
