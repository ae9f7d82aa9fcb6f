import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { ApiKeyMiddlewareOptions } from './api-key-middleware.js';
import { apiKeyMiddleware } from './api-key-middleware.js';
import type { FaultMiddlewareOptions } from './fault-middleware.js';
import { faultMiddleware } from './fault-middleware.js';
import type { FaultProfilePatch } from './fault-profile.js';
import { FaultProfile, mergeFaults } from './fault-profile.js';
import { listen } from './listen.js';
import type { Random } from './seeded-random.js';
import { createRandom } from './seeded-random.js';
import { readStateFile, writeStateFile } from './state-file.js';
import { SimulatorTimers } from './timers.js';
import { WebhookSender, type WebhookSenderOptions } from './webhook-sender.js';

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

/**
 * The random streams a simulator splits its seed into. Each listed stream is forked from the
 * seeded source, in the listed order, before the model is built; an unlisted one is the seeded
 * source itself. The order is part of what a seed means: changing it changes every seeded run.
 */
export type RandomStream = 'model' | 'faults' | 'webhooks';

/** What {@link startSimulatorServer} hands a provider's {@link SimulatorSpec.create}. */
export interface SimulatorKit<State> {
  /** The validated options, with the live fault profile. */
  readonly options: ResolvedSimulatorOptions;
  /** The random stream for the provider's own decisions (ids, timelines, outcomes). */
  readonly random: Random;
  /** The state read from `stateFile`, or `undefined` (no file, or no `stateFile`). */
  readonly saved: State | undefined;
  /** Pending timers; all are cleared first thing on `close()`. */
  readonly timers: SimulatorTimers;
  /** The base URL once the server listens; `''` before (read it lazily, in handlers). */
  readonly url: () => string;
  /**
   * The webhook sender for providers that push, built once from the `webhooks` random stream;
   * `close()` cancels what it has pending. Throws when the spec declares no `webhooks`.
   */
  readonly webhooks: () => WebhookSender;
}

/**
 * The clock, knobs and outlets a provider's job table runs on: the kit's model stream, speed,
 * clock, fault profile, webhook sender and timers.
 */
export interface JobModelOptions {
  random: Random;
  speed: number;
  now: () => number;
  faults: () => FaultProfile;
  webhooks: WebhookSender;
  /** Where the table's timers wait; the simulator clears them on close. */
  timers: SimulatorTimers;
}

/**
 * The routes a simulator guards: where the API key travels and the provider's answers when it
 * refuses a request (no key or a wrong one, the rate-limit knob, the 5xx knob).
 */
export interface ApiGuard extends Pick<FaultMiddlewareOptions, 'rateLimited' | 'serverError'> {
  /** The hono path pattern of the guarded routes, e.g. `/api/*` or `*`. */
  path: string;
  /** The header carrying the key; also the rate-limit bucket. */
  keyHeader: string;
  /** The accepted header value for a key. @default the key itself */
  expectedKey?: (apiKey: string) => string;
  /** The 401 answer (see {@link ApiKeyMiddlewareOptions.unauthorized}). */
  unauthorized: ApiKeyMiddlewareOptions['unauthorized'];
}

/**
 * The {@link JobModelOptions} of a kit, for providers that push webhooks.
 *
 * @example
 * const jobs = new KlangioJobs(jobModelOptions(kit));
 */
export function jobModelOptions<State>(kit: SimulatorKit<State>): JobModelOptions {
  const { speed, now, faults } = kit.options;
  return { random: kit.random, speed, now, faults, webhooks: kit.webhooks(), timers: kit.timers };
}

/**
 * A provider's simulator as the skeleton sees it: its routes, its job table's save and
 * resume, and what its handle adds to {@link RunningSimulator}.
 */
export interface SimulatorModel<StateIn, Extra> {
  /** Mounts the provider's routes (after the auth and fault middleware) and its not-found answer. */
  routes(app: Hono): void;
  /** What the simulator decided for a job at creation (see {@link RunningSimulator.outcome}). */
  outcome(externalId: string): 'succeeded' | 'failed' | undefined;
  /**
   * Called once the server listens, when a state file was read: schedules what the saved jobs
   * still have ahead of them, so nothing fires unless the simulator started.
   * @default nothing to resume
   */
  resume?(): void;
  /**
   * The state to write to `stateFile` on close, once no request can change it any more. Only
   * called with a state file; `stateFile` is its path, for providers that keep files beside it.
   */
  save(stateFile: string): StateIn | Promise<StateIn>;
  /** Fields the running handle adds to {@link RunningSimulator}, given the base URL. */
  handle(url: string): Extra;
}

/** How a provider's simulator differs from the others; see {@link startSimulatorServer}. */
export interface SimulatorSpec<State, StateIn, Extra> {
  /** Provider name, e.g. `klangio`. */
  provider: string;
  /** The routes behind the API key and the request faults. */
  api: ApiGuard;
  /** Streams forked from the seed, in this order (see {@link RandomStream}). */
  randomStreams: readonly RandomStream[];
  /**
   * Webhook retry policy, for providers that push; delays are divided by `speed`. `headers`
   * adds headers to each attempt (see `WebhookSenderOptions.headers`).
   */
  webhooks?: { timeoutMs: number; retryDelaysMs: readonly number[]; headers?: WebhookSenderOptions['headers'] };
  /** The schema of the provider's state file. */
  state: z.ZodType<State, StateIn>;
  /** Builds the provider's job model; may read `kit.saved` (before the server listens). */
  create(kit: SimulatorKit<State>): SimulatorModel<StateIn, Extra> | Promise<SimulatorModel<StateIn, Extra>>;
}

/**
 * The simulator skeleton: validates the options, splits the seed into streams, reads the state
 * file, builds the provider's model, guards its API routes with the key check and the fault
 * middleware, listens, resumes the saved jobs, and returns a handle whose `close()` runs once:
 * clear timers, cancel pending webhooks, close the server, then write the state file.
 *
 * A damaged state file fails the start before anything listens. If resuming fails, the server
 * is closed again and the state file is left as it was.
 *
 * @example
 * export function startExampleSimulator(options: SimulatorOptions = {}) {
 *   return startSimulatorServer(options, {
 *     provider: 'example',
 *     api: {
 *       path: '/v1/*',
 *       keyHeader: 'x-api-key',
 *       unauthorized: (c) => c.json({ error: 'unauthorized' }, 401),
 *       rateLimited: (c, s) => c.json({}, 429, { 'Retry-After': String(s) }),
 *       serverError: (c, status) => c.json({}, status),
 *     },
 *     randomStreams: ['faults'],
 *     state: ExampleState,
 *     create: (kit) => ({ routes: (app) => app.route('/v1', routesOf(kit)), outcome: () => undefined, save: () => stateOf(kit), handle: () => ({}) }),
 *   });
 * }
 */
export async function startSimulatorServer<State, StateIn, Extra>(
  options: SimulatorOptions,
  spec: SimulatorSpec<State, StateIn, Extra>,
): Promise<RunningSimulator & Extra> {
  const o = resolveSimulatorOptions(options);
  const streams = new Map<RandomStream, Random>();
  for (const name of spec.randomStreams) streams.set(name, createRandom(Math.floor(o.random() * 2 ** 32)));
  const streamOf = (name: RandomStream): Random => streams.get(name) ?? o.random;
  const saved = o.stateFile === undefined ? undefined : await readStateFile(o.stateFile, spec.state);

  let url = '';
  let webhooks: WebhookSender | undefined;
  const timers = new SimulatorTimers();
  const model = await spec.create({
    options: o,
    random: streamOf('model'),
    saved,
    timers,
    url: () => url,
    webhooks: () => {
      if (spec.webhooks === undefined) throw new TypeError(`the ${spec.provider} simulator declares no webhooks`);
      webhooks ??= new WebhookSender({
        faults: o.faults,
        random: streamOf('webhooks'),
        timeoutMs: spec.webhooks.timeoutMs,
        retryDelaysMs: spec.webhooks.retryDelaysMs.map((d) => d / o.speed),
        allowRemote: o.allowRemoteWebhooks,
        ...(spec.webhooks.headers === undefined ? {} : { headers: spec.webhooks.headers }),
      });
      return webhooks;
    },
  });

  const app = new Hono();
  const { path, keyHeader, expectedKey = (key: string) => key, unauthorized, rateLimited, serverError } = spec.api;
  app.use(path, apiKeyMiddleware({ header: keyHeader, expected: expectedKey(o.apiKey), unauthorized }));
  app.use(
    path,
    faultMiddleware({ rateLimited, serverError, faults: o.faults, random: streamOf('faults'), now: o.now, keyOf: (c) => c.req.header(keyHeader) }),
  );
  model.routes(app);

  const server = await listen(app, { host: o.host, port: o.port });
  url = server.url;
  const stop = async (): Promise<void> => {
    timers.clear();
    await webhooks?.close();
    await server.close();
  };
  try {
    if (saved !== undefined) model.resume?.();
  } catch (error) {
    await stop();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const running: RunningSimulator = {
    provider: spec.provider,
    url,
    apiKey: o.apiKey,
    setFaults: o.setFaults,
    outcome: (id) => model.outcome(id),
    close: () => {
      closing ??= (async () => {
        await stop();
        // Written once no request can create a job any more.
        if (o.stateFile !== undefined) await writeStateFile(o.stateFile, await model.save(o.stateFile));
      })();
      return closing;
    },
  };
  return { ...running, ...model.handle(url) };
}
