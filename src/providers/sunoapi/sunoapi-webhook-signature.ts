import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from '../../streams/errors.js';
import type { WebhookDelivery } from '../../streams/provider-port.js';

/**
 * How far a signed callback's `X-Webhook-Timestamp` may lie from the time it was received,
 * either way: five minutes, as the replay window of kie.ai's webhook verification.
 */
export const SUNOAPI_WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/**
 * kie.ai's callback signature: base64 of HMAC-SHA256 over `taskId + "." + timestamp` with the
 * account's webhook HMAC key, where `timestamp` is the `X-Webhook-Timestamp` header verbatim
 * (Unix seconds) [W:https://docs.kie.ai/common-api/webhook-verification].
 *
 * @example sunoapiWebhookSignature(taskId, req.headers['x-webhook-timestamp'], key) // 44 base64 characters
 */
export function sunoapiWebhookSignature(taskId: string, timestamp: string, key: string): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

/**
 * Checks a callback's kie.ai signature, in constant time, and that its timestamp is within
 * {@link SUNOAPI_WEBHOOK_TOLERANCE_MS} of `delivery.receivedAt` (the engine's clock; a delivery
 * without it cannot be checked and is refused). The signature covers only the task id and the
 * timestamp, not the body: it proves the sender holds the key and stops replays after the
 * window, no more.
 *
 * @throws WebhookSignatureError when a header is missing or malformed, the signature does not
 *   match, or the timestamp is too old or too far ahead.
 */
export function verifySunoapiSignature(delivery: WebhookDelivery, taskId: string, key: string): void {
  const timestamp = header(delivery, 'x-webhook-timestamp')?.trim();
  const signature = header(delivery, 'x-webhook-signature')?.trim();
  if (timestamp === undefined || timestamp === '') throw refused('no X-Webhook-Timestamp header (a webhook key is configured, so callbacks must be signed)');
  if (signature === undefined || signature === '') throw refused('no X-Webhook-Signature header (a webhook key is configured, so callbacks must be signed)');
  if (!/^\d{1,12}$/.test(timestamp)) throw refused('X-Webhook-Timestamp is not a Unix time in seconds');
  const expected = Buffer.from(sunoapiWebhookSignature(taskId, timestamp, key), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // Lengths are public (every valid signature is 44 characters); the bytes are compared in constant time.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refused(`X-Webhook-Signature does not match task ${taskId}`);
  if (delivery.receivedAt === undefined) throw refused('the delivery has no receive time to check X-Webhook-Timestamp against');
  const skewMs = delivery.receivedAt - Number(timestamp) * 1000;
  if (skewMs > SUNOAPI_WEBHOOK_TOLERANCE_MS) {
    throw refused(`X-Webhook-Timestamp is ${Math.round(skewMs / 1000)} s old (at most ${SUNOAPI_WEBHOOK_TOLERANCE_MS / 1000} s)`);
  }
  if (-skewMs > SUNOAPI_WEBHOOK_TOLERANCE_MS) {
    throw refused(`X-Webhook-Timestamp is ${Math.round(-skewMs / 1000)} s in the future (at most ${SUNOAPI_WEBHOOK_TOLERANCE_MS / 1000} s)`);
  }
}

function header(delivery: WebhookDelivery, name: string): string | undefined {
  const direct = delivery.headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(delivery.headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function refused(problem: string): WebhookSignatureError {
  return new WebhookSignatureError('sunoapi', problem);
}
