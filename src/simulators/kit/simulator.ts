import { randomBytes } from 'node:crypto';
import type { FaultProfilePatch } from './fault-profile.js';
import { FaultProfile, mergeFaults } from './fault-profile.js';
import type { Random } from './seeded-random.js';
import { createRandom } from './seeded-random.js';
import type { WebhookSender } from './webhook-sender.js';

/**
 * The handle every simulator returns.
 *
 * @example
 * const sim = await startKlangioSimulator({ speed: 200, seed: 1 });
 * sim.setFaults({ serverErrorRate: 0.5 });
 * await sim.close();
 */
export interface RunningSimulator {
  /** Provider name, e.g. `klangio`. */
  readonly provider: string;
  /** Base URL to give the provider's client (no trailing slash), e.g. `http://127.0.0.1:4100`. */
  readonly url: string;
  /** The API key the simulator accepts. */
  readonly apiKey: string;
  /** Changes fault knobs at run time; nested objects are merged. Throws on invalid values. */
  setFaults(partial: FaultProfilePatch): void;
  /** What the simulator decided for a job at creation, or `undefined` for an unknown id. */
  outcome(externalId: string): 'succeeded' | 'failed' | undefined;
  /** The webhook sender, for providers that push. */
  readonly webhooks?: WebhookSender;
  /** Stops the server and cancels pending webhooks. Idempotent. */
  close(): Promise<void>;
}

/** Options every simulator accepts. */
export interface SimulatorOptions {
  /** Port to bind. @default 0 (any free port) */
  port?: number;
  /** Host to bind. @default '127.0.0.1' */
  host?: string;
  /** The accepted API key. @default random hex */
  apiKey?: string;
  /** Clock speed factor: 1 = demo speed (jobs take a few seconds), 200 = tens of ms. @default 1 */
  speed?: number;
  /** Seed for every random decision. @default seeded from crypto */
  seed?: number;
  /** Initial fault knobs. @default no faults */
  faults?: FaultProfilePatch;
  /** Clock. @default Date.now */
  now?: () => number;
  /** Allow webhooks to non-loopback hosts. @default false */
  allowRemoteWebhooks?: boolean;
  /**
   * Where the simulator keeps its jobs between runs; loaded at start when present, written on
   * close(). A damaged file makes the start fail with a `SimulatorStateError` naming it.
   * @default none (jobs live in memory only)
   */
  stateFile?: string;
}

/** {@link SimulatorOptions} with defaults applied, plus the live fault profile. */
export interface ResolvedSimulatorOptions {
  readonly port: number;
  readonly host: string;
  readonly apiKey: string;
  readonly speed: number;
  readonly random: Random;
  readonly now: () => number;
  readonly allowRemoteWebhooks: boolean;
  /** The state file, when jobs are kept between runs. */
  readonly stateFile: string | undefined;
  /** The current fault profile (a bound function, safe to pass around). */
  readonly faults: () => FaultProfile;
  /** Merges a patch into the current fault profile (a bound function). */
  readonly setFaults: (partial: FaultProfilePatch) => void;
}

/**
 * Validates and defaults {@link SimulatorOptions} once; throws a `RangeError` for a
 * speed that is not a positive number or an empty `stateFile`, and a zod error for invalid
 * faults.
 *
 * @example
 * const o = resolveSimulatorOptions({ speed: 200, seed: 7 });
 * o.faults().serverErrorRate; // 0
 */
export function resolveSimulatorOptions(options: SimulatorOptions = {}): ResolvedSimulatorOptions {
  const speed = options.speed ?? 1;
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError(`speed must be a positive number, got ${speed}`);
  if (options.host !== undefined && !isLoopbackHost(options.host)) {
    throw new RangeError(`simulators only bind loopback hosts, got ${options.host}`);
  }
  if (options.stateFile !== undefined && options.stateFile.trim() === '') throw new RangeError('stateFile must not be empty');
  let faults = mergeFaults(FaultProfile.parse({}), options.faults ?? {});
  return {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    apiKey: options.apiKey ?? randomBytes(16).toString('hex'),
    speed,
    random: createRandom(options.seed),
    now: options.now ?? Date.now,
    allowRemoteWebhooks: options.allowRemoteWebhooks ?? false,
    stateFile: options.stateFile,
    faults: () => faults,
    setFaults: (partial) => {
      faults = mergeFaults(faults, partial);
    },
  };
}

function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
