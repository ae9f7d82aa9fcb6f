import type { Dispatcher } from 'undici';
import { PROVIDER_NAMES, PROVIDERS, type ProviderName } from '../../src/providers/provider-catalog.js';
import { simulatorBaseUrl, startSimulator } from '../../src/simulators/simulator-catalog.js';
import type { ProviderAdapter } from '../../src/streams/provider-port.js';
import type { FaultProfilePatch } from '../../src/simulators/kit/fault-profile.js';
import type { RunningSimulator } from '../../src/simulators/kit/simulator.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';

/** The four provider simulators, running in the test process. */
export interface SimulatorFleet {
  readonly simulators: Readonly<Record<ProviderName, RunningSimulator>>;
  /** The base URL an adapter of `provider` should use. */
  baseUrl(provider: ProviderName): string;
  /**
   * One adapter per simulator, all through `dispatcher`, with the given poll policy overrides (per
   * provider, or for all). Private URLs are allowed: the test's audio server is on loopback.
   */
  adapters(dispatcher: Dispatcher, pollPolicy?: Partial<PollPolicy> | ((provider: ProviderName) => Partial<PollPolicy>)): ProviderAdapter[];
  close(): Promise<void>;
}

/** Starts a simulator of every provider (or of `only`) with one speed, seed and fault profile. */
export async function startSimulatorFleet(options: {
  speed: number;
  seed: number;
  faults?: FaultProfilePatch;
  only?: readonly ProviderName[];
}): Promise<SimulatorFleet> {
  const names = options.only ?? PROVIDER_NAMES;
  const started = await Promise.all(
    names.map((name, i) =>
      startSimulator(name, {
        apiKey: `reliability-${name}-key`,
        speed: options.speed,
        seed: options.seed + i,
        ...(options.faults === undefined ? {} : { faults: options.faults }),
      }),
    ),
  );
  const simulators = Object.fromEntries(names.map((name, i) => [name, started[i]!])) as Record<ProviderName, RunningSimulator>;
  return {
    simulators,
    baseUrl: (provider) => simulatorBaseUrl(provider, simulators[provider]),
    adapters: (dispatcher, pollPolicy) =>
      names.map((name) =>
        PROVIDERS[name].createAdapter({
          apiKey: simulators[name].apiKey,
          baseUrl: simulatorBaseUrl(name, simulators[name]),
          dispatcher,
          allowPrivateUrls: true,
          ...(pollPolicy === undefined ? {} : { pollPolicy: typeof pollPolicy === 'function' ? pollPolicy(name) : pollPolicy }),
        }),
      ),
    close: async () => {
      await Promise.all(started.map((simulator) => simulator.close()));
    },
  };
}
