import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { interceptors, type Dispatcher } from 'undici';
import { JobstreamError } from '../streams/errors.js';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  /** 4 or 6. */
  family: number;
}

/**
 * How URLs that come from outside are resolved and judged: hooks for tests and unusual networks.
 * Production code leaves them at their defaults.
 */
export interface UrlGuardHooks {
  /** Resolves a host name to all its addresses. @default node:dns `lookup(hostname, { all: true })` */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
  /** Whether an address may be fetched from. @default {@link isPublicAddress} */
  isAllowedAddress?: (address: string) => boolean;
  /** Redirects followed; each hop is resolved and judged again. @default 5 */
  maxRedirections?: number;
}

/**
 * What adapters that fetch URLs from outside take (job input URLs they download themselves,
 * result URLs read from webhook or poll answers). The provider's configured base URL is never
 * guarded: the operator chose it, and it may be a simulator on loopback.
 */
export interface OutsideUrlOptions {
  /**
   * Let URLs from outside reach loopback, private, link-local and other non-public addresses.
   * Only for local setups (the demo, tests, simulators on 127.0.0.1): on a server it lets any
   * client make jobstream fetch from its own network. `JOBSTREAM_ALLOW_PRIVATE_URLS` for `serve`.
   * @default false
   */
  allowPrivateUrls?: boolean;
  /** Resolver and address policy of the guard (see {@link UrlGuardHooks}). */
  urlGuard?: UrlGuardHooks;
}

/** A URL from outside that jobstream refuses to fetch; `host` is the URL's host, without credentials. */
export class UrlRefusedError extends JobstreamError {
  readonly host: string;
  constructor(host: string, reason: string) {
    super('URL_REFUSED', `refused to fetch from ${host}: ${reason}`);
    this.host = host;
  }
}

/** IPv4 ranges that are not the public internet (RFC 6890 and friends). */
const IPV4_RANGES: [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

/** IPv6 ranges that are not the public internet. IPv4-mapped addresses are judged by the IPv4 rules. */
const IPV6_RANGES: [string, number][] = [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (fd00:ec2::254 is the AWS metadata service)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const BLOCKED = new BlockList();
for (const [network, prefix] of IPV4_RANGES) BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of IPV6_RANGES) BLOCKED.addSubnet(network, prefix, 'ipv6');

/**
 * Whether an IP address is on the public internet: not loopback, private (RFC 1918, unique
 * local fc00::/7), link-local (169.254/16, fe80::/10, cloud metadata), carrier-grade NAT,
 * unspecified, multicast, documentation or otherwise reserved. IPv4 addresses inside IPv6
 * (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged as IPv4.
 * Anything that is not an IP address is not public.
 *
 * @example isPublicAddress('93.184.215.14') // true
 * @example isPublicAddress('::ffff:127.0.0.1') // false
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !BLOCKED.check(address, 'ipv4');
  if (family !== 6) return false;
  if (BLOCKED.check(address, 'ipv6')) return false;
  const embedded = embeddedIpv4(address);
  return embedded === undefined || !BLOCKED.check(embedded, 'ipv4');
}

/** The IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address. */
function embeddedIpv4(address: string): string | undefined {
  const words = ipv6Words(address);
  if (words === undefined) return undefined;
  const v4 = (high: number, low: number): string => [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (already checked by `isIP`). */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return words.length === 8 ? words : undefined;
}

async function lookupAll(hostname: string): Promise<ResolvedAddress[]> {
  return dnsLookup(hostname, { all: true });
}

interface Pinned {
  /** The origin to connect to: the checked IP address in place of the host name. */
  origin: string;
  /** The URL's own host (the `Host` header) and, for https, the name the certificate must carry. */
  host: string;
  servername: string | undefined;
}

/**
 * Resolves an origin once and checks the address: the connection then goes to that address,
 * so a host name cannot resolve to a public address here and a private one at connect time.
 */
async function pin(originText: string | URL, lookup: (hostname: string) => Promise<ResolvedAddress[]>, allowed: (a: string) => boolean): Promise<Pinned> {
  const origin = new URL(String(originText));
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') throw new UrlRefusedError(origin.host, `only http(s) URLs are fetched, not ${origin.protocol}`);
  const hostname = origin.hostname.replace(/^\[(.*)\]$/, '$1');
  const refused = (): UrlRefusedError =>
    new UrlRefusedError(origin.host, 'it is not a public internet address (loopback, private, link-local or reserved); JOBSTREAM_ALLOW_PRIVATE_URLS=true allows it');
  if (isIP(hostname) !== 0) {
    if (!allowed(hostname)) throw refused();
    return { origin: origin.origin, host: origin.host, servername: undefined };
  }
  const address = (await lookup(hostname)).find((candidate) => allowed(candidate.address));
  if (address === undefined) throw refused();
  const pinned = new URL(origin.origin);
  pinned.hostname = isIP(address.address) === 6 ? `[${address.address}]` : address.address;
  return { origin: pinned.origin, host: origin.host, servername: origin.protocol === 'https:' ? hostname : undefined };
}

/** The request's headers with `Host` set to the URL's own host, unless a `Host` is already there. */
function withHost(headers: Dispatcher.DispatchOptions['headers'], host: string): Exclude<Dispatcher.DispatchOptions['headers'], undefined> {
  if (headers === undefined || headers === null) return { host };
  if (Array.isArray(headers)) {
    // A flat [name, value, …] list, or [name, value] pairs.
    const flat: string[] = typeof headers[0] === 'string' || headers.length === 0 ? headers : (headers as unknown as [string, string][]).flat();
    for (let i = 0; i < flat.length; i += 2) if (flat[i]?.toLowerCase() === 'host') return flat;
    return ['host', host, ...flat];
  }
  const entries = Symbol.iterator in headers ? [...(headers as Iterable<[string, string | string[] | undefined]>)] : Object.entries(headers);
  if (entries.some(([name]) => name.toLowerCase() === 'host')) return headers;
  return { host, ...Object.fromEntries(entries.filter((e): e is [string, string | string[]] => e[1] !== undefined)) };
}

function guardInterceptor(hooks: UrlGuardHooks): Dispatcher.DispatcherComposeInterceptor {
  const lookup = hooks.lookup ?? lookupAll;
  const allowed = hooks.isAllowedAddress ?? isPublicAddress;
  return (dispatch) => (options, handler) => {
    const fail = (error: unknown): void => {
      // Before a connection there is no controller; undici's own DNS interceptor passes null too.
      handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, error instanceof Error ? error : new Error(String(error)));
    };
    pin(options.origin ?? '', lookup, allowed).then((pinned) => {
      try {
        const next = { ...options, origin: pinned.origin, headers: withHost(options.headers, pinned.host) };
        dispatch(pinned.servername === undefined ? next : { ...next, servername: pinned.servername } as Dispatcher.DispatchOptions, handler);
      } catch (error) {
        fail(error);
      }
    }, fail);
    return true;
  };
}

/**
 * The dispatcher for URLs that come from outside, built on the shared one: follows redirects,
 * and resolves every hop's host itself, refusing ({@link UrlRefusedError}) unless one of its
 * addresses is public, then connects to that very address (so DNS rebinding cannot slip a
 * private address in between). With `allowPrivateUrls` only the redirects are added.
 * Nothing new is opened: closing `dispatcher` closes this one too.
 *
 * @example
 * const outside = guardedDispatcher(createDispatcher(), { allowPrivateUrls: false });
 * await request('http://169.254.169.254/latest/meta-data/', { dispatcher: outside }); // rejects with UrlRefusedError
 */
export function guardedDispatcher(dispatcher: Dispatcher, options: OutsideUrlOptions = {}): Dispatcher {
  const hooks = options.urlGuard ?? {};
  const redirects = interceptors.redirect({ maxRedirections: hooks.maxRedirections ?? 5 });
  // compose() wraps in order, so the redirect interceptor is outermost: each hop passes the guard.
  return options.allowPrivateUrls === true ? dispatcher.compose(redirects) : dispatcher.compose(guardInterceptor(hooks), redirects);
}
