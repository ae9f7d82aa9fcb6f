import { z } from 'zod';
import { InvalidWebhookError } from '../../streams/errors.js';
import type { JobError } from '../../streams/job-snapshot.js';
import type { ParsedWebhook, ProviderReport, WebhookDelivery } from '../../streams/provider-port.js';

/**
 * `GET /job/{id}/status`, read tolerantly: any status string (unknown ones are not terminal),
 * and an error that may sit under `error` or `error_description` and may be text or an object.
 */
export const KlangioStatusAnswer = z.looseObject({
  status: z.string().min(1),
  error: z.unknown().optional(),
  error_description: z.unknown().optional(),
});
export type KlangioStatusAnswer = z.infer<typeof KlangioStatusAnswer>;

/** What a status answer means for the job. */
export type KlangioState =
  /** Still going (or an unknown status): report as it is. */
  | { type: 'pending'; report: ProviderReport }
  /** COMPLETED: the result still has to be put together (and, for JSON kinds, fetched). */
  | { type: 'completed'; providerStatus: string }
  /** FAILED, CANCELLED, TIMED_OUT: terminal, with the error. */
  | { type: 'failed'; report: ProviderReport };

const FAILURE_TEXT: Record<string, string> = {
  FAILED: 'Klangio could not process the job',
  CANCELLED: 'the job was cancelled at Klangio',
  TIMED_OUT: 'the job timed out at Klangio',
};

/**
 * Maps a status answer: IN_QUEUE → queued, IN_PROGRESS → running, COMPLETED → completed,
 * FAILED → failed with code `FAILED`, CANCELLED / TIMED_OUT (unverified statuses) → failed with
 * that code; anything else → queued with the raw status (the reducer never moves a job back).
 * Status names are compared case-insensitively; `providerStatus` is kept verbatim.
 */
export function klangioState(answer: KlangioStatusAnswer): KlangioState {
  const providerStatus = answer.status;
  const status = providerStatus.trim().toUpperCase();
  switch (status) {
    case 'IN_QUEUE':
      return { type: 'pending', report: { status: 'queued', providerStatus } };
    case 'IN_PROGRESS':
      return { type: 'pending', report: { status: 'running', providerStatus } };
    case 'COMPLETED':
      return { type: 'completed', providerStatus };
    case 'FAILED':
    case 'CANCELLED':
    case 'TIMED_OUT': {
      const error: JobError = { code: status, message: textOf(answer.error) ?? textOf(answer.error_description) ?? FAILURE_TEXT[status] ?? status };
      return { type: 'failed', report: { status: 'failed', providerStatus, error } };
    }
    default:
      return { type: 'pending', report: { status: 'queued', providerStatus } };
  }
}

function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const key of ['message', 'detail', 'description']) {
      const text = record[key];
      if (typeof text === 'string' && text.trim() !== '') return text;
    }
  }
  return JSON.stringify(value);
}

const JobId = z.union([z.string().trim().min(1), z.number().int().nonnegative().transform(String)]);

/** A Klangio webhook body: the job id (`job_id`, or `id`) and usually a status. Undocumented; read loosely. */
export const KlangioWebhookAnswer = z.looseObject({
  job_id: JobId.optional(),
  id: JobId.optional(),
  status: z.string().optional(),
});

/**
 * Reads a Klangio webhook. The body is thin (no result, no error text), so only the two
 * non-terminal statuses are reported as they are; a terminal or unknown status is reported at
 * `running` rank (unknown: no report at all) with `confirm` set, and the poll that follows
 * fetches the outcome.
 *
 * @throws InvalidWebhookError for a body that is not an object or names no job.
 */
export function parseKlangioWebhook(delivery: WebhookDelivery): ParsedWebhook {
  const parsed = KlangioWebhookAnswer.safeParse(delivery.body);
  if (!parsed.success) throw new InvalidWebhookError('klangio', `the body is not a Klangio job notice (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const externalId = parsed.data.job_id ?? parsed.data.id;
  if (externalId === undefined) throw new InvalidWebhookError('klangio', 'the body has no job_id (nor id)');
  const providerStatus = parsed.data.status;
  if (providerStatus === undefined) return { externalId, confirm: true };
  switch (providerStatus.trim().toUpperCase()) {
    case 'IN_QUEUE':
      return { externalId, report: { status: 'queued', providerStatus } };
    case 'IN_PROGRESS':
      return { externalId, report: { status: 'running', providerStatus } };
    case 'COMPLETED':
    case 'FAILED':
    case 'CANCELLED':
    case 'TIMED_OUT':
      return { externalId, report: { status: 'running', providerStatus }, confirm: true };
    default:
      return { externalId, confirm: true };
  }
}
