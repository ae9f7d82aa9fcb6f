import { PROVIDERS, type ProviderName } from '../providers/provider-catalog.js';
import { startCambaiSimulator } from './cambai/cambai-simulator.js';
import type { RunningSimulator, SimulatorOptions } from './kit/simulator.js';
import { startKlangioSimulator } from './klangio/klangio-simulator.js';
import { startMusicaiSimulator } from './musicai/musicai-simulator.js';
import { startSunoapiSimulator } from './sunoapi/sunoapi-simulator.js';

/** Each provider's simulator, by the provider's name. */
const STARTERS: Readonly<Record<ProviderName, (options: SimulatorOptions) => Promise<RunningSimulator>>> = {
  klangio: startKlangioSimulator,
  musicai: startMusicaiSimulator,
  sunoapi: startSunoapiSimulator,
  cambai: startCambaiSimulator,
};

/**
 * Starts the simulator of `provider`.
 *
 * @example
 * const sim = await startSimulator('klangio', { speed: 200, seed: 1 });
 * const baseUrl = simulatorBaseUrl('klangio', sim);
 */
export function startSimulator(provider: ProviderName, options: SimulatorOptions = {}): Promise<RunningSimulator> {
  return STARTERS[provider](options);
}

/** The base URL an adapter should use for a running simulator. */
export function simulatorBaseUrl(provider: ProviderName, simulator: RunningSimulator): string {
  return simulator.url + PROVIDERS[provider].basePath;
}
