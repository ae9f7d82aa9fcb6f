/**
 * The one error family of jobstream. Every error has a stable string `code` that callers can
 * switch on (messages are for people and may change), plus the context it happened in.
 *
 * @example
 * try { await engine.cancel(id) } catch (e) {
 *   if (e instanceof JobstreamError && e.code === 'UNKNOWN_JOB') return notFound();
 *   throw e;
 * }
 */
export class JobstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No job has this id. */
export class UnknownJobError extends JobstreamError {
  readonly jobId: string;
  constructor(jobId: string) {
    super('UNKNOWN_JOB', `no job with id "${jobId}"`);
    this.jobId = jobId;
  }
}

/** No adapter is configured for this provider name. */
export class UnknownProviderError extends JobstreamError {
  readonly provider: string;
  constructor(provider: string, known: readonly string[]) {
    super('UNKNOWN_PROVIDER', `no provider "${provider}" is configured (configured: ${known.join(', ') || 'none'})`);
    this.provider = provider;
  }
}

/** One problem with a request: where it is and what is wrong. */
export interface RequestIssue {
  /** Dotted path of the offending field, e.g. `input.url`; empty for the request as a whole. */
  field: string;
  reason: string;
}

/** A request (submit, track, …) did not validate. */
export class InvalidRequestError extends JobstreamError {
  readonly issues: readonly RequestIssue[];
  constructor(issues: readonly RequestIssue[]) {
    super('INVALID_REQUEST', issues.map((i) => (i.field ? `${i.field}: ${i.reason}` : i.reason)).join('; '));
    this.issues = issues;
  }
}

/** A webhook arrived for a token no job has (or for the wrong provider). */
export class UnknownWebhookTokenError extends JobstreamError {
  readonly provider: string;
  constructor(provider: string) {
    super('UNKNOWN_WEBHOOK_TOKEN', `no ${provider} job has this webhook token`);
    this.provider = provider;
  }
}

/** A webhook body could not be understood. Nothing was stored. */
export class InvalidWebhookError extends JobstreamError {
  readonly provider: string;
  constructor(provider: string, problem: string) {
    super('INVALID_WEBHOOK', `invalid ${provider} webhook: ${problem}`);
    this.provider = provider;
  }
}

/**
 * A webhook failed the provider's signature check (a signing key is configured): the signature
 * or its timestamp is missing, does not match, or the timestamp is outside the accepted window.
 * Nothing was stored and no poll was hurried; over HTTP it is a 401.
 *
 * @example new WebhookSignatureError('sunoapi', 'the X-Webhook-Timestamp is 412 s old (at most 300 s)')
 */
export class WebhookSignatureError extends JobstreamError {
  readonly provider: string;
  constructor(provider: string, problem: string) {
    super('WEBHOOK_SIGNATURE_INVALID', `unauthenticated ${provider} webhook: ${problem}`);
    this.provider = provider;
  }
}

/** Why a provider call failed, which decides what the engine does next. */
export type ProviderFailure =
  /** Too many requests (HTTP 429, sunoapi body code 430): slow the whole credential down. */
  | 'rate-limited'
  /** The provider is down or unreachable (5xx, timeouts, connection errors): back off and retry. */
  | 'unavailable'
  /** The key was refused. */
  | 'unauthorized'
  /** The provider refused this request for good (validation, unknown job, out of credits). */
  | 'rejected'
  /** The answer could not be understood (not JSON, missing fields, an HTML error page). */
  | 'invalid-response';

/** A call to a provider failed. Thrown by adapters, classified by the engine. */
export class ProviderError extends JobstreamError {
  readonly provider: string;
  readonly failure: ProviderFailure;
  /** HTTP status, where there was an answer. */
  readonly status: number | undefined;
  /** How long the provider asked us to wait, from `Retry-After`. */
  readonly retryAfterMs: number | undefined;
  /** The provider's own error code, where it gave one (e.g. `INSUFFICIENT_CREDITS`). */
  readonly providerCode: string | undefined;
  /**
   * True when the call failed before a request that creates a job could have reached the
   * provider: no connection (refused, DNS, connect timeout), HTTP 429 or 503 (RFC 9110: not
   * handled), or a failed preparatory step (an upload slot, an upload, an input download).
   * Nothing was created, so a submission may be retried. False when the provider may have
   * received and acted on the request (other 5xx, a timeout or reset after sending).
   */
  readonly notCreated: boolean;
  constructor(
    provider: string,
    failure: ProviderFailure,
    message: string,
    details: {
      status?: number | undefined;
      retryAfterMs?: number | undefined;
      providerCode?: string | undefined;
      notCreated?: boolean | undefined;
      cause?: unknown;
    } = {},
  ) {
    super('PROVIDER_ERROR', `${provider}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.provider = provider;
    this.failure = failure;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.providerCode = details.providerCode;
    this.notCreated = details.notCreated ?? false;
  }

  /**
   * The same failure, marked {@link notCreated}: for errors of a step that runs before the
   * creating request (the caller knows what the HTTP layer cannot).
   *
   * @example
   * try { slot = await getUploadSlot() } catch (e) { throw e instanceof ProviderError ? e.beforeCreate() : e }
   */
  beforeCreate(): ProviderError {
    if (this.notCreated) return this;
    const message = this.message.startsWith(`${this.provider}: `) ? this.message.slice(this.provider.length + 2) : this.message;
    return new ProviderError(this.provider, this.failure, message, {
      status: this.status,
      retryAfterMs: this.retryAfterMs,
      providerCode: this.providerCode,
      notCreated: true,
      cause: this,
    });
  }
}

/** `waitFor` gave up before the job finished. */
export class WaitTimeoutError extends JobstreamError {
  readonly jobId: string;
  constructor(jobId: string, timeoutMs: number) {
    super('WAIT_TIMEOUT', `job "${jobId}" did not finish within ${timeoutMs} ms`);
    this.jobId = jobId;
  }
}

/** A data file could not be read back. Start-up stops; nothing is replaced. */
export class StoreCorruptError extends JobstreamError {
  readonly file: string;
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super('STORE_CORRUPT', `data file ${file} is damaged: ${problem}`, options);
    this.file = file;
  }
}

/** Another process owns the data directory. */
export class StoreLockedError extends JobstreamError {
  readonly dir: string;
  constructor(dir: string, owner: string) {
    super('STORE_LOCKED', `data directory ${dir} is in use by another jobstream process (${owner})`);
    this.dir = dir;
  }
}

/** The engine was closed; it takes no more work. */
export class EngineClosedError extends JobstreamError {
  constructor() {
    super('ENGINE_CLOSED', 'the engine is closed');
  }
}

/**
 * The store cannot make changes durable right now (a full disk, an I/O error). The change was
 * not confirmed: the caller should retry later (over HTTP: 503 with `Retry-After`). The engine
 * keeps retrying the write in the background; once it succeeds the change is kept and published,
 * and a retried request is answered from the durable state.
 *
 * @example
 * try { await engine.ingestWebhook(delivery) } catch (e) {
 *   if (e instanceof StoreUnavailableError) return retryLater(e.retryAfterMs);
 *   throw e;
 * }
 */
export class StoreUnavailableError extends JobstreamError {
  /** What failed, safe to show: an error code and its description, never a path. */
  readonly reason: string;
  /** How long a client should wait before retrying. */
  readonly retryAfterMs: number;
  constructor(reason: string, options?: ErrorOptions & { retryAfterMs?: number }) {
    super('STORE_UNAVAILABLE', `the job store cannot write right now (${reason}); the change is not confirmed, retry later`, options);
    this.reason = reason;
    this.retryAfterMs = options?.retryAfterMs ?? 5000;
  }
}

/**
 * A store error as text that is safe to log, show in `/healthz` and answer with: for a system
 * error its code and description (`ENOSPC: no space left on device`, without the path Node
 * appends), for a jobstream error its code, otherwise a generic phrase.
 *
 * @example describeStoreError(enospc) // 'ENOSPC: no space left on device'
 */
export function describeStoreError(error: unknown): string {
  if (error instanceof JobstreamError) return error.code;
  if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string') {
    const code = (error as NodeJS.ErrnoException).code as string;
    // Node's system errors read "CODE: description, syscall 'path'": keep the first part.
    const description = /^[A-Z0-9_]+: ([^,]*)/.exec(error.message)?.[1];
    return description === undefined || description === '' ? code : `${code}: ${description}`;
  }
  return 'write failed';
}
