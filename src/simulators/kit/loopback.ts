/**
 * Whether a URL is an http(s) URL on a loopback host (127.0.0.0/8, `localhost`, `[::1]`).
 * Simulators only call back to such hosts unless told otherwise.
 *
 * @example
 * isLoopbackUrl('http://127.0.0.1:8080/hook'); // true
 * isLoopbackUrl('https://example.com/hook'); // false
 */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a string is an absolute http(s) URL (any host).
 *
 * @example
 * isHttpUrl('ftp://x'); // false
 */
export function isHttpUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}
