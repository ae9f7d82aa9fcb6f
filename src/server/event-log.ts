import { Subscription, type Observable } from 'rxjs';
import type { Engine, EngineEvent } from '../streams/engine.js';
import { redactUrl, type Logger } from './logger.js';
import type { WsHubEvent } from './ws-hub.js';

/** Longest free text (an error's message) copied into a log line. */
const MAX_TEXT = 300;

/**
 * Logs what the engine and the WebSocket hub report, one line per event: store write failures
 * and recoveries, provider outages, rate-limit blocks and recoveries (with the lane), and
 * dropped WebSocket clients. Polls and webhooks are logged at `debug` and `trace` only. The core
 * emits typed events and knows nothing of logging; this is where they become log lines.
 *
 * @example
 * const subscription = logServerEvents(logger, { engine, hub });
 * // ... later
 * subscription.unsubscribe();
 */
export function logServerEvents(logger: Logger, sources: { engine: Engine; hub: { readonly events$: Observable<WsHubEvent> } }): Subscription {
  const subscription = new Subscription();
  subscription.add(sources.engine.events$.subscribe(engineEventLogger(logger)));
  subscription.add(sources.hub.events$.subscribe((event) => logHubEvent(logger, event)));
  return subscription;
}

function engineEventLogger(logger: Logger): (event: EngineEvent) => void {
  // The last failure each provider's polls reported: the reason given with an outage line.
  const lastProblem = new Map<string, string>();
  return (event) => {
    switch (event.type) {
      case 'poll': {
        if ((event.outcome === 'unavailable' || event.outcome === 'rate-limited') && event.error !== undefined) lastProblem.set(event.provider, clip(event.error));
        const level = event.outcome === 'ok' ? 'trace' : 'debug';
        if (!logger.isLevelEnabled(level)) return;
        logger[level](
          {
            provider: event.provider,
            jobId: event.jobId,
            outcome: event.outcome,
            durationMs: event.endedAt - event.startedAt,
            ...(event.observed === undefined ? {} : { observed: event.observed }),
            ...(event.retryAfterMs === undefined ? {} : { retryAfterMs: event.retryAfterMs }),
            ...(event.error === undefined ? {} : { error: clip(event.error) }),
          },
          'poll',
        );
        return;
      }
      case 'webhook':
        if (logger.isLevelEnabled('debug')) {
          logger.debug({ provider: event.provider, jobId: event.jobId, outcome: event.outcome, ...(event.observed === undefined ? {} : { observed: event.observed }) }, 'webhook');
        }
        return;
      case 'store-error': {
        // Retries go on with backoff for as long as the store fails: the 1st, 2nd, 4th, 8th...
        // failure is an error line, the others are detail.
        const level = (event.attempt & (event.attempt - 1)) === 0 ? 'error' : 'debug';
        logger[level](
          { err: event.error, attempt: event.attempt, ...(event.reason === undefined ? {} : { reason: event.reason }) },
          event.attempt === 1 ? 'store write failed; retrying' : 'store write still failing; retrying',
        );
        return;
      }
      case 'store-recovered':
        logger.info({ attempts: event.attempts, downMs: event.downMs }, 'store writes recovered');
        return;
      case 'restored':
        logger.info({ jobs: event.jobs, resumed: event.resumed, unconfigured: event.unconfigured }, 'jobs restored');
        return;
      case 'removed':
        logger.info({ removed: event.ids.length }, 'retention removed finished jobs');
        return;
      case 'lane-outage': {
        const reason = lastProblem.get(event.provider);
        logger.warn(
          {
            provider: event.provider,
            lane: event.lane,
            until: isoTime(event.until),
            ...(event.retryAfterMs === undefined ? {} : { retryAfterMs: event.retryAfterMs }),
            ...(reason === undefined ? {} : { reason }),
          },
          'provider outage: lane backing off',
        );
        return;
      }
      case 'lane-rate-limited':
        logger.warn(
          {
            provider: event.provider,
            lane: event.lane,
            until: isoTime(event.until),
            ...(event.retryAfterMs === undefined ? {} : { retryAfterMs: event.retryAfterMs }),
          },
          'provider rate limit: lane blocked',
        );
        return;
      case 'lane-recovered': {
        lastProblem.delete(event.provider);
        const fields = { provider: event.provider, lane: event.lane, cause: event.cause, troubleMs: event.at - event.since, failures: event.failures };
        // Every rate-limit block was logged when it began; its end is detail.
        if (event.cause === 'unavailable') logger.info(fields, 'provider recovered');
        else logger.debug(fields, 'provider rate limit lifted');
        return;
      }
    }
  };
}

function logHubEvent(logger: Logger, event: WsHubEvent): void {
  const { type: _, ...fields } = event;
  logger.warn(fields, event.reason === 'dead-peer' ? 'websocket client dropped: no heartbeat answer' : 'websocket client dropped: not reading');
}

/** Lets `limit` lines through per window; counts the others and reports the count once the window ends. */
class LogBudget {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #report: (suppressed: number) => void;
  #windowStart = 0;
  #used = 0;
  #suppressed = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(limit: number, windowMs: number, report: (suppressed: number) => void) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#report = report;
  }

  take(): boolean {
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#used = 0;
    }
    if (this.#used < this.#limit) {
      this.#used += 1;
      return true;
    }
    this.#suppressed += 1;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      const suppressed = this.#suppressed;
      this.#suppressed = 0;
      this.#report(suppressed);
    }, this.#windowMs).unref();
    return false;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Options of {@link requestLogger}. */
export interface RequestLogOptions {
  /** Webhook rejections and failed requests logged per second at most; the rest are counted. @default 20 */
  linesPerSecond?: number;
}

/**
 * Logs HTTP answers that operators care about, from the request and the response alone:
 * webhook rejections (`warn`: provider, status, the error's code and reason; never the token from
 * the path, never the body), failed requests (5xx, `error`), other client errors (`debug`) and
 * every answer (`trace`). Webhook and failure lines are limited per second so that a flood of
 * bad deliveries cannot flood the log; the lines left out are counted in one summary line.
 *
 * @returns `log(request, response, startedAt)` to call with each answer, and `stop()`.
 * @example
 * const requests = requestLogger(logger);
 * const response = await app.fetch(request);
 * requests.log(request, response, startedAt);
 */
export function requestLogger(logger: Logger, options: RequestLogOptions = {}): { log: (request: Request, response: Response, startedAt: number) => void; stop: () => void } {
  const budget = new LogBudget(options.linesPerSecond ?? 20, 1000, (suppressed) =>
    logger.warn({ suppressed }, 'more webhook rejections and failed requests than the log takes per second: these were not logged'),
  );
  const log = (request: Request, response: Response, startedAt: number): void => {
    const { status } = response;
    const path = new URL(request.url).pathname;
    const durationMs = Date.now() - startedAt;
    if (status < 400) {
      if (logger.isLevelEnabled('trace')) logger.trace({ method: request.method, path, status, durationMs }, 'request');
      return;
    }
    const hook = /^\/v1\/hooks\/([^/]*)\//.exec(path);
    const level = hook !== null || status >= 500 ? (status >= 500 ? 'error' : 'warn') : 'debug';
    if (!logger.isLevelEnabled(level) || (level !== 'debug' && !budget.take())) return;
    const fields = {
      method: request.method,
      path,
      status,
      durationMs,
      ...(hook === null ? {} : { provider: clip(hook[1] ?? '', 64) }),
    };
    const message = hook === null ? (status >= 500 ? 'request failed' : 'request rejected') : status >= 500 ? 'webhook not accepted' : 'webhook rejected';
    // The error body is the API's own small JSON ({ error: { code, message } }), never the request's.
    readError(response).then(
      (error) => logger[level]({ ...fields, ...error }, message),
      () => logger[level](fields, message),
    );
  };
  return { log, stop: () => budget.stop() };
}

async function readError(response: Response): Promise<{ code?: string; reason?: string }> {
  if (!(response.headers.get('content-type') ?? '').includes('json')) return {};
  const body = (await response.clone().json()) as { error?: { code?: unknown; message?: unknown } } | null;
  const code = body?.error?.code;
  const message = body?.error?.message;
  return {
    ...(typeof code === 'string' ? { code: clip(code, 64) } : {}),
    ...(typeof message === 'string' ? { reason: clip(message) } : {}),
  };
}

function clip(text: string, max = MAX_TEXT): string {
  const safe = redactUrl(text);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

function isoTime(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
