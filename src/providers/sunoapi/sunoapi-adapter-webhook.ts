import { z } from 'zod';
import { InvalidWebhookError } from '../../streams/errors.js';
import type { ParsedWebhook, WebhookDelivery } from '../provider-adapter.js';
import { separationResult, stemUrls, SunoapiInstruments } from './sunoapi-adapter-records.js';

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
      instruments: SunoapiInstruments,
    })
    .nullish(),
});

/**
 * Reads a sunoapi.org callback. Callbacks come once per task, at its end, and carry the whole
 * outcome, so they are reported as terminal:
 * - code 200 with `data.vocal_removal_info` → succeeded with the stem URLs (a separation);
 * - code 200 with any other `data` → succeeded with the instruments (a MIDI task; missing or
 *   empty `instruments` is a valid, empty result);
 * - code 400 and above → failed, code `TASK_FAILED`, with the provider's `msg` (a callback
 *   does not say which step failed; a later poll cannot change a terminal job);
 * - anything else (no `data`, a separation without URLs, another code) → no report, `confirm`.
 *
 * `providerStatus` is `data.state` where given (`complete`, `failed`), `SUCCESS` for a separation's
 * success callback (the record's word for it), else the code.
 *
 * @throws InvalidWebhookError for a body of another shape or without a task id.
 */
export function parseSunoapiWebhook(delivery: WebhookDelivery): ParsedWebhook {
  const parsed = SunoapiCallbackAnswer.safeParse(delivery.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidWebhookError('sunoapi', `the body is not a sunoapi.org callback (${issue === undefined ? 'invalid' : `${issue.path.join('.') || 'body'}: ${issue.message}`})`);
  }
  const body = parsed.data;
  const data = body.data ?? undefined;
  const externalId = body.task_id ?? data?.task_id ?? data?.taskId ?? body.taskId;
  if (externalId === undefined) throw new InvalidWebhookError('sunoapi', 'the body has no task id (task_id, data.task_id, data.taskId or taskId)');
  // The callback's own word where it has one; a separation's success callback has none, so it
  // gets the status its record says at that point (SUCCESS), as a poll would report.
  const providerStatus =
    typeof data?.state === 'string' && data.state !== '' ? data.state : body.code === 200 && data?.vocal_removal_info != null ? 'SUCCESS' : String(body.code);

  if (body.code >= 400) {
    const message = body.msg === undefined || body.msg === null || body.msg.trim() === '' ? `the task failed (code ${body.code})` : body.msg;
    return { externalId, report: { status: 'failed', providerStatus, error: { code: 'TASK_FAILED', message } } };
  }
  if (body.code !== 200 || data === undefined) return { externalId, confirm: true };
  if (data.vocal_removal_info !== undefined) {
    const urls = stemUrls(data.vocal_removal_info ?? {});
    if (Object.keys(urls).length === 0) return { externalId, confirm: true };
    return { externalId, report: { status: 'succeeded', providerStatus, result: separationResult(urls) } };
  }
  return { externalId, report: { status: 'succeeded', providerStatus, result: { instruments: data.instruments } } };
}
