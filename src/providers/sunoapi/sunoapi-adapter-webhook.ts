import { z } from 'zod';
import { InvalidWebhookError } from '../../streams/errors.js';
import type { ParsedWebhook, WebhookDelivery } from '../../streams/provider-port.js';
import { stemUrls, SunoapiInstruments } from './sunoapi-adapter-records.js';
import { verifySunoapiSignature } from './sunoapi-webhook-signature.js';

const TaskId = z.union([z.string().trim().min(1), z.number().int().nonnegative().transform(String)]);

/**
 * A sunoapi.org callback (vocal separation or MIDI), read tolerantly: the task id may sit in
 * `task_id`, `data.task_id`, `data.taskId` or `taskId`; `code` may be a numeric string.
 */
export const SunoapiCallbackAnswer = z.looseObject({
  code: z.union([z.number().int(), z.string().trim().regex(/^\d+$/).transform(Number)]),
  msg: z.string().nullish(),
  task_id: TaskId.optional(),
  taskId: TaskId.optional(),
  data: z
    .looseObject({
      task_id: TaskId.optional(),
      taskId: TaskId.optional(),
      state: z.string().nullish(),
      vocal_removal_info: z.record(z.string(), z.unknown()).nullish(),
      vocal_separation_info: z.record(z.string(), z.unknown()).nullish(),
      instruments: SunoapiInstruments,
    })
    .nullish(),
});

/** Options of {@link parseSunoapiWebhook}. */
export interface SunoapiWebhookOptions {
  /**
   * kie.ai's webhook HMAC key: when set, every callback must carry a valid `X-Webhook-Timestamp`
   * and `X-Webhook-Signature` (see {@link verifySunoapiSignature}). @default none (unsigned callbacks are read)
   */
  webhookKey?: string | undefined;
}

/**
 * Reads a sunoapi.org callback. Callbacks come once per task, at its end:
 * - with a `webhookKey`, the signature is checked first (after the task id is found, since it
 *   is signed): a delivery that fails it throws `WebhookSignatureError` and changes nothing;
 * - code 200 with `data.vocal_removal_info` (docs.sunoapi.org) or `data.vocal_separation_info`
 *   (kie.ai) and stem URLs → `running` at provider status `SUCCESS`, with `confirm`: the
 *   callback carries only URLs, while the record (`record-info`) also lists `originData`, the
 *   track ids a MIDI job takes as `audioId`, and a terminal result can never be completed later;
 *   it also means no URL from a callback body (which anyone who learns the webhook URL could
 *   post) ever becomes a result. The same without any URL → only `confirm`;
 * - code 200 with `data.state` `complete` or a `data.instruments` list → succeeded with the
 *   instruments (a MIDI task; missing or empty `instruments` is a valid result with no notes,
 *   as for `separate_vocal` sources and often `split_stem` ones);
 * - code 400 and above → failed, code `TASK_FAILED`, with the provider's `msg` (a callback
 *   does not say which step failed; a later poll cannot change a terminal job);
 * - anything else → no report, `confirm`: a body the adapter does not fully recognise never
 *   ends a job nor invents a result, the poll answer decides. Bodies of an unknown shape (no
 *   `data`, another code, a `data` that is neither a separation nor a MIDI result) are also
 *   marked `unrecognised`; a separation callback is a known shape and is not.
 *
 * `providerStatus` is `data.state` where given (`complete`, `failed`), `SUCCESS` for a separation's
 * success callback (the record's word for it), else the code.
 *
 * @throws InvalidWebhookError for a body of another shape or without a task id;
 *   WebhookSignatureError when `webhookKey` is set and the signature check fails.
 */
export function parseSunoapiWebhook(delivery: WebhookDelivery, options: SunoapiWebhookOptions = {}): ParsedWebhook {
  const parsed = SunoapiCallbackAnswer.safeParse(delivery.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidWebhookError('sunoapi', `the body is not a sunoapi.org callback (${issue === undefined ? 'invalid' : `${issue.path.join('.') || 'body'}: ${issue.message}`})`);
  }
  const body = parsed.data;
  const data = body.data ?? undefined;
  const externalId = body.task_id ?? data?.task_id ?? data?.taskId ?? body.taskId;
  if (externalId === undefined) throw new InvalidWebhookError('sunoapi', 'the body has no task id (task_id, data.task_id, data.taskId or taskId)');
  if (options.webhookKey !== undefined) verifySunoapiSignature(delivery, externalId, options.webhookKey);
  // The callback's own word where it has one; a separation's success callback has none, so it
  // gets the status its record says at that point (SUCCESS), as a poll would report.
  const providerStatus =
    typeof data?.state === 'string' && data.state !== '' ? data.state : body.code === 200 && separationInfo(data) != null ? 'SUCCESS' : String(body.code);

  if (body.code >= 400) {
    const message = body.msg === undefined || body.msg === null || body.msg.trim() === '' ? `the task failed (code ${body.code})` : body.msg;
    return { externalId, report: { status: 'failed', providerStatus, error: { code: 'TASK_FAILED', message } } };
  }
  if (body.code !== 200 || data === undefined) return { externalId, confirm: true, unrecognised: true };
  const info = separationInfo(data);
  if (info !== undefined) {
    if (Object.keys(stemUrls(info ?? {})).length === 0) return { externalId, confirm: true };
    return { externalId, report: { status: 'running', providerStatus }, confirm: true };
  }
  const raw = (delivery.body as { data: Record<string, unknown> }).data;
  if (data.state === 'complete' || Array.isArray(raw.instruments)) {
    return { externalId, report: { status: 'succeeded', providerStatus, result: { instruments: data.instruments } } };
  }
  return { externalId, confirm: true, unrecognised: true };
}

/** The stems of a separation callback: `vocal_removal_info` (sunoapi.org) or `vocal_separation_info` (kie.ai). */
function separationInfo(data: SeparationFields | undefined): Record<string, unknown> | null | undefined {
  return data?.vocal_removal_info ?? data?.vocal_separation_info ?? (data?.vocal_removal_info === null || data?.vocal_separation_info === null ? null : undefined);
}

type SeparationFields = { vocal_removal_info?: Record<string, unknown> | null | undefined; vocal_separation_info?: Record<string, unknown> | null | undefined };
