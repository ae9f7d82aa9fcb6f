import type { Dispatcher } from 'undici';
import type { PollPolicy } from '../streams/poll-scheduler.js';
import { createCambaiAdapter } from './cambai/cambai-adapter.js';
import { createKlangioAdapter } from './klangio/klangio-adapter.js';
import { createMusicaiAdapter } from './musicai/musicai-adapter.js';
import type { ProviderAdapter } from '../streams/provider-port.js';
import { createSunoapiAdapter } from './sunoapi/sunoapi-adapter.js';

/** The providers jobstream speaks, by the name used in URLs, configuration and the CLI. */
export const PROVIDER_NAMES = ['klangio', 'musicai', 'sunoapi', 'cambai'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** What every adapter factory takes. */
export interface AdapterSettings {
  apiKey: string;
  /** Defaults to the provider's real API. */
  baseUrl?: string;
  /** The one shared outbound dispatcher. */
  dispatcher: Dispatcher;
  /** Overrides of the provider's documented poll policy (the demo and tests poll faster). */
  pollPolicy?: Partial<PollPolicy>;
  /**
   * Let URLs from outside (input URLs jobstream downloads, result URLs from webhooks and polls)
   * reach loopback, private and link-local addresses; see `OutsideUrlOptions`. Only for local
   * setups such as the demo. @default false
   */
  allowPrivateUrls?: boolean;
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
    defaultBaseUrl: 'https://api.klang.io',
    basePath: '',
    envPrefix: 'KLANGIO',
    createAdapter: (settings) => createKlangioAdapter(settings),
  },
  musicai: {
    name: 'musicai',
    title: 'Music.AI',
    defaultBaseUrl: 'https://api.music.ai/v1',
    basePath: '/v1',
    envPrefix: 'MUSICAI',
    createAdapter: (settings) => createMusicaiAdapter(settings),
  },
  sunoapi: {
    name: 'sunoapi',
    title: 'sunoapi.org',
    defaultBaseUrl: 'https://api.sunoapi.org',
    basePath: '',
    envPrefix: 'SUNOAPI',
    createAdapter: (settings) => createSunoapiAdapter(settings),
  },
  cambai: {
    name: 'cambai',
    title: 'Camb.ai',
    defaultBaseUrl: 'https://client.camb.ai/apis',
    basePath: '/apis',
    envPrefix: 'CAMBAI',
    createAdapter: (settings) => createCambaiAdapter(settings),
  },
};

/** Whether `name` is one of {@link PROVIDER_NAMES}. */
export function isProviderName(name: string): name is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(name);
}
