/**
 * A `Content-Disposition` header that makes the browser save a download under `name`, safely
 * (RFC 6266 with the RFC 5987 encoding): `attachment; filename="<fallback>"; filename*=UTF-8''<name>`.
 *
 * In both forms control characters and path separators become `_`, and leading or trailing dots
 * and spaces are dropped (`download` when nothing is left). The quoted ASCII fallback, for
 * clients that do not read `filename*`, also has quotes, `%` and every non-ASCII character
 * replaced; the `filename*` form keeps the name's Unicode, percent-encoded (everything but
 * RFC 5987 `attr-char`).
 *
 * @example
 * attachmentDisposition('Grüße "live".mid')
 * // `attachment; filename="Gr__e _live_.mid"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22live%22.mid`
 */
export function attachmentDisposition(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed here
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_').replace(/^[.\s]+|[.\s]+$/g, '') || 'download';
  const fallback = clean.replace(/[^\x20-\x7e]|["%]/gu, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeAttrChars(clean)}`;
}

/** Percent-encodes UTF-8 bytes outside RFC 5987 `attr-char` (ALPHA DIGIT ! # $ & + - . ^ _ ` | ~). */
function encodeAttrChars(text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
