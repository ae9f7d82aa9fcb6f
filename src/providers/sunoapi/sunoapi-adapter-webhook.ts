import { z } from 'zod';
import { InvalidWebhookError } from '../../streams/errors.js';
import type { ParsedWebhook, WebhookDelivery } from '../../streams/provider-port.js';
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
      vocal_separation_info: z.record(z.string(), z.unknown()).nullish(),
      instruments: SunoapiInstruments,
    })
    .nullish(),
});

/**
 * Hosts sunoapi.org serves result files from, subdomains included: `tempfile.aiquickdraw.com`
 * and `file.aiquickdraw.com` (stems), `cdn1.suno.ai` (the original track), as the callback
 * examples of docs.sunoapi.org and docs.kie.ai show them. Only https URLs on these hosts (or on
 * the configured base URL's origin) are taken from a callback; see {@link parseSunoapiWebhook}.
 */
export const SUNOAPI_RESULT_HOSTS: readonly string[] = ['aiquickdraw.com', 'suno.ai'];

/**
 * Whether a result URL is the provider's own: on the configured base URL's origin, or https on
 * one of `hosts` or a subdomain of one.
 *
 * @example ownResultUrl('https://api.sunoapi.org', SUNOAPI_RESULT_HOSTS)('https://tempfile.aiquickdraw.com/v/x.mp3') // true
 */
export function ownResultUrl(baseUrl: string, hosts: readonly string[]): (url: string) => boolean {
  const base = new URL(baseUrl).origin;
  const names = hosts.map((host) => host.trim().toLowerCase().replace(/^\*?\./, '')).filter((host) => host !== '');
  return (text) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return false;
    }
    if (url.origin === base) return true;
    const host = url.hostname.toLowerCase();
    return url.protocol === 'https:' && names.some((name) => host === name || host.endsWith(`.${name}`));
  };
}

/**
 * Reads a sunoapi.org callback. Callbacks come once per task, at its end, and carry the whole
 * outcome, so they are reported as terminal:
 * - code 200 with `data.vocal_removal_info` (docs.sunoapi.org) or `data.vocal_separation_info`
 *   (kie.ai) → succeeded with the stem URLs (a separation), when every URL is the provider's
 *   own (`isOwnResultUrl`); otherwise `running` with `confirm`, so the result comes from the
 *   provider's own poll answer: anyone who learns a job's webhook URL could post a body, and its
 *   URLs would be fetched by the server and served as the result;
 * - code 200 with `data.state` `complete` or a `data.instruments` list → succeeded with the
 *   instruments (a MIDI task; missing or empty `instruments` is a valid, empty result);
 * - code 400 and above → failed, code `TASK_FAILED`, with the provider's `msg` (a callback
 *   does not say which step failed; a later poll cannot change a terminal job);
 * - anything else → no report, `confirm`: a body the adapter does not fully recognise never
 *   ends a job nor invents a result, the poll answer decides. Bodies of an unknown shape (no
 *   `data`, another code, a `data` that is neither a separation nor a MIDI result) are also
 *   marked `unrecognised`; a separation without URLs is a known shape and is not.
 *
 * `providerStatus` is `data.state` where given (`complete`, `failed`), `SUCCESS` for a separation's
 * success callback (the record's word for it), else the code. Without `isOwnResultUrl` no URL
 * is trusted (the adapter passes {@link ownResultUrl} of its base URL and result hosts).
 *
 * @throws InvalidWebhookError for a body of another shape or without a task id.
 */
export function parseSunoapiWebhook(delivery: WebhookDelivery, isOwnResultUrl: (url: string) => boolean = () => false): ParsedWebhook {
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
    typeof data?.state === 'string' && data.state !== '' ? data.state : body.code === 200 && separationInfo(data) != null ? 'SUCCESS' : String(body.code);

  if (body.code >= 400) {
    const message = body.msg === undefined || body.msg === null || body.msg.trim() === '' ? `the task failed (code ${body.code})` : body.msg;
    return { externalId, report: { status: 'failed', providerStatus, error: { code: 'TASK_FAILED', message } } };
  }
  if (body.code !== 200 || data === undefined) return { externalId, confirm: true, unrecognised: true };
  const info = separationInfo(data);
  if (info !== undefined) {
    const urls = stemUrls(info ?? {});
    if (Object.keys(urls).length === 0) return { externalId, confirm: true };
    if (!Object.values(urls).every(isOwnResultUrl)) return { externalId, report: { status: 'running', providerStatus }, confirm: true };
    return { externalId, report: { status: 'succeeded', providerStatus, result: separationResult(urls) } };
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
