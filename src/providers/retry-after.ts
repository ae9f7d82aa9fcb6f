/**
 * Reads an HTTP `Retry-After` value, either delay-seconds (`"120"`) or an HTTP date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`), as milliseconds to wait from `now`.
 * Returns `undefined` for a missing or unreadable value; a date in the past gives 0.
 *
 * @example parseRetryAfter('3', Date.now()) // 3000
 */
export function parseRetryAfter(value: string | readonly string[] | null | undefined, now: number): number | undefined {
  const first: string | null | undefined = typeof value === 'string' || value == null ? value : value[0];
  const text = first?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Only accept things that look like dates: Date.parse is lenient enough to read "1 2" as a date.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Reads an `X-RateLimit-Reset` value as milliseconds to wait from `now`, for answers without
 * `Retry-After` (the Camb.ai SDK falls back to it the same way). A value of 10^9 or more is a
 * Unix time in seconds, as the SDK reads it (10^12 or more: in milliseconds); a smaller one is
 * seconds from now, as other APIs send it. Returns `undefined` for a missing or unreadable
 * value; a time in the past gives 0.
 *
 * @example parseRateLimitReset(String(Math.ceil(Date.now() / 1000) + 5), Date.now()) // about 5000
 */
export function parseRateLimitReset(value: string | readonly string[] | null | undefined, now: number): number | undefined {
  const first: string | null | undefined = typeof value === 'string' || value == null ? value : value[0];
  const text = first?.trim();
  if (!text || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  const number = Number(text);
  if (number >= 1e12) return Math.max(0, Math.round(number - now));
  if (number >= 1e9) return Math.max(0, Math.round(number * 1000 - now));
  return Math.round(number * 1000);
}
