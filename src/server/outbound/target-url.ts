import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isPublicAddress, type ResolvedAddress } from '../../providers/url-guard.js';
import { HttpError } from '../api-error.js';

/** How a webhook target URL is judged. */
export interface TargetUrlPolicy {
  /** Let targets on loopback, private, link-local and other non-public addresses. @default false */
  allowPrivateTargets?: boolean;
  /** Resolves a host name to all its addresses. @default node:dns `lookup(hostname, { all: true })` */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
}

/**
 * Checks a webhook target: an absolute http(s) URL without credentials or fragment, whose host
 * is (or resolves to) a public internet address unless `allowPrivateTargets`. Resolves with
 * the URL as it will be called; throws an {@link HttpError} 400 `INVALID_WEBHOOK_URL` saying
 * what is wrong. Delivery checks the address again (the shared guard pins it per request), so
 * a name that resolves elsewhere later is still refused.
 *
 * @example await checkTargetUrl('http://10.0.0.7/hook', {}) // throws: a private address
 */
export async function checkTargetUrl(text: string, policy: TargetUrlPolicy = {}): Promise<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refused('url is not an absolute URL (expected http://… or https://…)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused(`url must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  if (url.username !== '' || url.password !== '') throw refused('url must not carry credentials (user:password@); authenticate the sender by its signature');
  if (url.hash !== '') throw refused('url must not have a #fragment');
  if (policy.allowPrivateTargets === true) return url.toString();
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const why = `is not a public internet address (loopback, private, link-local or reserved); JOBSTREAM_WEBHOOK_ALLOW_PRIVATE=1 allows it`;
  if (isIP(host) !== 0) {
    if (!isPublicAddress(host)) throw refused(`url host ${host} ${why}`);
    return url.toString();
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await (policy.lookup ?? ((name: string) => dnsLookup(name, { all: true })))(host);
  } catch {
    throw refused(`url host ${host} does not resolve`);
  }
  if (!addresses.some((address) => isPublicAddress(address.address))) throw refused(`url host ${host} ${why}`);
  return url.toString();
}

function refused(message: string): HttpError {
  return new HttpError(400, 'INVALID_WEBHOOK_URL', message, [{ field: 'url', reason: message }]);
}
