import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDER_NAMES, PROVIDERS, type ProviderName } from '../../src/providers/provider-catalog.js';
import { simulatorBaseUrl, startSimulator } from '../../src/simulators/simulator-catalog.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import type { FaultProfilePatch } from '../../src/simulators/kit/fault-profile.js';
import type { RunningSimulator } from '../../src/simulators/kit/simulator.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

export const TOKEN = 'dashboard-e2e-token-0123456789';

/** Options of {@link startDashboardStack}. */
export interface DashboardStackOptions {
  /** Simulator clock speed. @default 4 (jobs take about a second) */
  speed?: number;
  /** Fault knobs per provider. @default none */
  faults?: Partial<Record<ProviderName, FaultProfilePatch>>;
  /** Poll interval of the adapters. @default 250 */
  pollMs?: number;
}

/** The four simulators, and a jobstream server (dashboard included) on a data dir that outlives it. */
export interface DashboardStack {
  readonly server: RunningServer;
  readonly url: string;
  readonly dataDir: string;
  readonly simulators: ReadonlyMap<ProviderName, RunningSimulator>;
  /** Stops the server only: the page sees its connection drop. */
  stopServer(): Promise<void>;
  /** Starts a new server on the same port and data dir. */
  startServer(): Promise<RunningServer>;
  close(): Promise<void>;
}

/**
 * What `npm start` runs, in-process and fast: every provider's simulator, their adapters
 * polling quickly, and the server on a free port with its store in a temporary data dir.
 */
export async function startDashboardStack(options: DashboardStackOptions = {}): Promise<DashboardStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-dashboard-'));
  const dispatcher = createDispatcher();
  const simulators = new Map<ProviderName, RunningSimulator>();
  for (const name of PROVIDER_NAMES) {
    simulators.set(name, await startSimulator(name, { apiKey: `dashboard-${name}-key`, speed: options.speed ?? 4, seed: 7, faults: options.faults?.[name] ?? {} }));
  }
  const pollMs = options.pollMs ?? 250;
  const providers = PROVIDER_NAMES.map((name) =>
    PROVIDERS[name].createAdapter({
      apiKey: `dashboard-${name}-key`,
      baseUrl: simulatorBaseUrl(name, simulators.get(name) as RunningSimulator),
      dispatcher,
      pollPolicy: { intervalMs: pollMs, watchdog: { quietMs: pollMs * 4 }, backoff: { initialMs: 100, maxMs: 1000 } },
      // Like the demo: everything runs on loopback.
      allowPrivateUrls: true,
    }),
  );
  const start = (port: number) => startServer({ providers, token: TOKEN, port, dataDir });
  let server: RunningServer | undefined = await start(0);
  const port = server.port;
  return {
    get server() {
      if (server === undefined) throw new Error('the server is stopped');
      return server;
    },
    url: server.url,
    dataDir,
    simulators,
    async stopServer() {
      await server?.close();
      server = undefined;
    },
    async startServer() {
      server = await start(port);
      return server;
    },
    async close() {
      await server?.close();
      await Promise.all([...simulators.values()].map((simulator) => simulator.close()));
      await dispatcher.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
