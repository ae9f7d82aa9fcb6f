/**
 * jobstream/simulators: local HTTP servers that speak each provider's API, run jobs on a clock
 * and send webhooks the way the provider does. For demos, tests and development without keys;
 * the library's root import (`jobstream`) loads none of this.
 *
 * @example
 * import { createKlangioAdapter, createDispatcher } from 'jobstream';
 * import { simulatorBaseUrl, startKlangioSimulator } from 'jobstream/simulators';
 * const sim = await startKlangioSimulator({ speed: 10 });
 * const adapter = createKlangioAdapter({ apiKey: sim.apiKey, baseUrl: simulatorBaseUrl('klangio', sim), dispatcher: createDispatcher() });
 */
export { startKlangioSimulator } from './klangio/klangio-simulator.js';
export { startMusicaiSimulator } from './musicai/musicai-simulator.js';
export { startSunoapiSimulator } from './sunoapi/sunoapi-simulator.js';
export { startCambaiSimulator } from './cambai/cambai-simulator.js';
export { startSimulator, simulatorBaseUrl } from './simulator-catalog.js';
export { faultPresets } from './kit/fault-profile.js';
export type { FaultProfile, FaultProfilePatch } from './kit/fault-profile.js';
export type { RunningSimulator, SimulatorOptions } from './kit/simulator.js';
export { wavFile } from './kit/media.js';
export type { WavOptions } from './kit/media.js';
