import { Readable } from 'node:stream';
import { InvalidWebhookError, ProviderError } from '../../src/streams/errors.js';
import type { JsonValue } from '../../src/streams/job-snapshot.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import type {
  CallContext,
  CreateJobRequest,
  CreateJobResult,
  ParsedWebhook,
  ProviderAdapter,
  ProviderJobRef,
  ProviderReport,
  ResultDownload,
  ResultFile,
  WebhookDelivery,
} from '../../src/streams/provider-port.js';

/** What the fake provider's webhooks look like: `{ id, status, progress?, result? }`. */
export interface FakeWebhookBody {
  id: string;
  status: string;
  progress?: number;
  result?: string;
}

const STATUS: Record<string, ProviderReport['status']> = {
  WAITING: 'queued',
  WORKING: 'running',
  DONE: 'succeeded',
  BROKEN: 'failed',
};

/**
 * An in-memory provider for core tests: jobs live in a Map, tests move them with `set`, and
 * can script failures of the next calls. Speaks a tiny made-up dialect (WAITING / WORKING /
 * DONE / BROKEN) so the tests exercise the translation path.
 */
export class FakeProvider implements ProviderAdapter {
  readonly provider: string;
  readonly kinds = ['transcription', 'separation'] as const;
  readonly webhooks = true;
  readonly credentialId: string;
  readonly pollPolicy: PollPolicy;
  readonly jobs = new Map<string, ProviderReport>();
  readonly created: CreateJobRequest[] = [];
  readonly canceled: string[] = [];
  polls = 0;
  readonly pollsOf = new Map<string, number>();
  /** Errors the next calls throw, in order. */
  readonly failures: { on: 'create' | 'poll' | 'download'; error: Error }[] = [];
  /** When set, `download` waits for this promise before answering. */
  downloadGate: Promise<void> | undefined;
  downloads = 0;
  /** When set, `create` waits for this promise before answering. */
  createGate: Promise<void> | undefined;
  /** When set, `create` runs this first (to look at the request while it is in flight). */
  beforeCreate: ((request: CreateJobRequest) => Promise<void>) | undefined;
  #next = 0;

  constructor(options: { provider?: string; credentialId?: string; pollPolicy?: Partial<PollPolicy> } = {}) {
    this.provider = options.provider ?? 'fake';
    this.credentialId = options.credentialId ?? 'key-1';
    this.pollPolicy = {
      intervalMs: 5,
      backoff: { initialMs: 5, maxMs: 50 },
      rate: { limit: 1000, windowMs: 1000 },
      maxInFlight: 16,
      ...options.pollPolicy,
    };
  }

  /** Moves a job at the "provider" to a new state. */
  set(externalId: string, providerStatus: keyof typeof STATUS, extra: Partial<ProviderReport> = {}): void {
    this.jobs.set(externalId, { status: STATUS[providerStatus]!, providerStatus, ...extra });
  }

  async create(request: CreateJobRequest, _context: CallContext): Promise<CreateJobResult> {
    this.created.push(request);
    await this.beforeCreate?.(request);
    await this.createGate;
    this.#failIfScripted('create');
    const externalId = `ext-${++this.#next}`;
    // A state set before the answer stands (a provider that moved on before answering).
    if (!this.jobs.has(externalId)) this.set(externalId, 'WAITING');
    return { externalId, report: this.jobs.get(externalId) };
  }

  poll(job: ProviderJobRef, _context: CallContext): Promise<ProviderReport> {
    this.polls += 1;
    this.pollsOf.set(job.externalId, (this.pollsOf.get(job.externalId) ?? 0) + 1);
    this.#failIfScripted('poll');
    const report = this.jobs.get(job.externalId);
    if (report === undefined) return Promise.reject(new ProviderError(this.provider, 'rejected', `no job ${job.externalId}`, { status: 404 }));
    return Promise.resolve(report);
  }

  parseWebhook(delivery: WebhookDelivery): ParsedWebhook {
    const body = delivery.body as Partial<FakeWebhookBody> | null;
    if (typeof body !== 'object' || body === null) throw new InvalidWebhookError(this.provider, 'body must be a JSON object');
    if (typeof body.id !== 'string') throw new InvalidWebhookError(this.provider, '"id" must be a string');
    // A body of a shape the adapter does not know: it reports nothing and asks for a poll.
    if ((body as { unrecognised?: unknown }).unrecognised === true) return { externalId: body.id, confirm: true, unrecognised: true };
    const status = typeof body.status === 'string' ? STATUS[body.status] : undefined;
    if (status === undefined) throw new InvalidWebhookError(this.provider, `unknown status ${JSON.stringify(body.status)}`);
    const report: ProviderReport = { status, providerStatus: body.status as string };
    if (typeof body.progress === 'number') report.progress = body.progress;
    if (typeof body.result === 'string') report.result = body.result;
    return { externalId: body.id, report };
  }

  cancel(job: ProviderJobRef): Promise<void> {
    this.canceled.push(job.externalId);
    return Promise.resolve();
  }

  /** A succeeded job whose result is a string offers it as `result.txt`. */
  resultFiles(_job: ProviderJobRef, result: JsonValue): ResultFile[] {
    return typeof result === 'string' ? [{ name: 'result.txt', contentType: 'text/plain' }] : [];
  }

  async download(_job: ProviderJobRef, result: JsonValue, name: string): Promise<ResultDownload> {
    this.downloads += 1;
    await this.downloadGate;
    this.#failIfScripted('download');
    if (name !== 'result.txt') throw new ProviderError(this.provider, 'rejected', `no file ${name}`, { status: 404 });
    return { contentType: 'text/plain', body: Readable.from([Buffer.from(`content of ${JSON.stringify(result).replace(/^"|"$/g, '')}`)]) };
  }

  #failIfScripted(on: 'create' | 'poll' | 'download'): void {
    const index = this.failures.findIndex((f) => f.on === on);
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      throw failure!.error;
    }
  }
}

/** Collects a job's webhook token from the URL the engine hands the provider. */
export function tokenOf(url: string | undefined): string {
  const token = url?.split('/').pop();
  if (token === undefined || token === '') throw new Error(`no token in webhook URL ${String(url)}`);
  return token;
}

export const hookUrl = (provider: string, token: string): string => `http://127.0.0.1:1/v1/hooks/${provider}/${token}`;
