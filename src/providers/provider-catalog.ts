import type { ProviderAdapter } from '../streams/provider-port.js';
import type { AdapterOptions } from './adapter-scaffold.js';
import { CAMBAI_DEFAULT_BASE_URL, createCambaiAdapter } from './cambai/cambai-adapter.js';
import { createKlangioAdapter, KLANGIO_BASE_URL } from './klangio/klangio-adapter.js';
import { MUSICAI_DEFAULT_BASE_URL } from './musicai/musicai-adapter-client.js';
import { createMusicaiAdapter } from './musicai/musicai-adapter.js';
import { createSunoapiAdapter, SUNOAPI_BASE_URL } from './sunoapi/sunoapi-adapter.js';

/** The providers jobstream speaks, by the name used in URLs, configuration and the CLI. */
export const PROVIDER_NAMES = ['klangio', 'musicai', 'sunoapi', 'cambai'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** What every adapter factory takes (the demo and tests override the poll policy to poll faster). */
export interface AdapterSettings extends AdapterOptions {
  /**
   * Let URLs from outside (input URLs jobstream downloads, result URLs from webhooks and polls)
   * reach loopback, private and link-local addresses; see `OutsideUrlOptions`. Only for local
   * setups such as the demo. @default false
   */
  allowPrivateUrls?: boolean;
  /** sunoapi only: kie.ai's webhook HMAC key (see `SunoapiAdapterOptions.webhookKey`); other providers ignore it. @default none */
  webhookKey?: string;
}

/** What is known about a provider independent of any key. */
export interface ProviderInfo {
  name: ProviderName;
  /** Human name. */
  title: string;
  /** The real API's base URL (what an adapter uses when no base URL is configured). */
  defaultBaseUrl: string;
  /** The path a simulator serves the API under, appended to its root URL to make a base URL. */
  basePath: string;
  /** Prefix of its environment variables: `<PREFIX>_API_KEY`, `<PREFIX>_BASE_URL`. */
  envPrefix: string;
  /** Builds this provider's adapter. */
  createAdapter(settings: AdapterSettings): ProviderAdapter;
}

/** Every provider, in a stable order. */
export const PROVIDERS: Readonly<Record<ProviderName, ProviderInfo>> = {
  klangio: {
    name: 'klangio',
    title: 'Klangio',
    defaultBaseUrl: KLANGIO_BASE_URL,
    basePath: '',
    envPrefix: 'KLANGIO',
    createAdapter: (settings) => createKlangioAdapter(settings),
  },
  musicai: {
    name: 'musicai',
    title: 'Music.AI',
    defaultBaseUrl: MUSICAI_DEFAULT_BASE_URL,
    basePath: '/v1',
    envPrefix: 'MUSICAI',
    createAdapter: (settings) => createMusicaiAdapter(settings),
  },
  sunoapi: {
    name: 'sunoapi',
    title: 'sunoapi.org',
    defaultBaseUrl: SUNOAPI_BASE_URL,
    basePath: '',
    envPrefix: 'SUNOAPI',
    createAdapter: (settings) => createSunoapiAdapter(settings),
  },
  cambai: {
    name: 'cambai',
    title: 'Camb.ai',
    defaultBaseUrl: CAMBAI_DEFAULT_BASE_URL,
    basePath: '/apis',
    envPrefix: 'CAMBAI',
    createAdapter: (settings) => createCambaiAdapter(settings),
  },
};

/** Whether `name` is one of {@link PROVIDER_NAMES}. */
export function isProviderName(name: string): name is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(name);
}
