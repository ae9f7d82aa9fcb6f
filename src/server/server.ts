import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Dispatcher } from 'undici';
import { createDispatcher } from '../providers/provider-http.js';
import type { SchedulerLike } from 'rxjs';
import type { ProviderAdapter } from '../streams/provider-port.js';
import { createEngine, type Engine } from '../streams/engine.js';
import { lockDirectory, type DirLock } from '../streams/dir-lock.js';
import type { JobStore } from '../streams/job-store.js';
import type { ClusterBackend } from '../streams/shared-log.js';
import { authenticator, tokenChecker } from './auth.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { logServerEvents, requestLogger } from './event-log.js';
import { createHttpApp } from './http-app.js';
import { silentLogger, type Logger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { outboxMetrics } from './outbound/outbox-metrics.js';
import { WebhookOutbox, type WebhookOutboxOptions } from './outbound/webhook-outbox.js';
import { deriveTokenSecret, loadTokenSecret, ScopedTokens } from './scoped-tokens.js';
import { SseHub } from './sse-hub.js';
import { TokenScope, type MintedToken } from './token-protocol.js';
import { clearUploads } from './upload.js';
import { WsHub, type WsHubOptions } from './ws-hub.js';

/** Options of {@link startServer}. */
export interface ServerOptions {
  providers: readonly ProviderAdapter[];
  /** The API token clients must send. */
  token: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 8080; 0 picks a free port */
  port?: number;
  /** Data directory for the store and uploads. @default './data' */
  dataDir?: string;
  /** A store to use instead of a `FileStore` in `dataDir` (tests). */
  store?: JobStore;
  /**
   * Run as one member of a cluster (see `redisCluster` in `jobstream/cluster`): jobs, change
   * log, poll schedule and rate budgets are shared; `dataDir` then holds only uploads in transit
   * (one directory per member: it is locked), and result copies go to `resultsDir`, which every
   * member must share.
   */
  cluster?: ClusterBackend;
  /** Where result copies are kept. @default `<dataDir>/results` */
  resultsDir?: string;
  /**
   * How many of the newest changes are kept (across restarts, in `dataDir`) for clients that
   * resume. @default 10,000
   */
  changeLogSize?: number;
  /** Retention: finished jobs are removed this long after they settled (see `EngineOptions.retainMs`). @default kept forever */
  retainMs?: number;
  /**
   * The base URL providers call back to. @default `http://<host>:<port>` once listening
   */
  publicUrl?: string;
  /** Largest accepted upload. @default 200 MiB */
  maxUploadBytes?: number;
  /** Largest accepted JSON body. @default 1 MiB */
  maxJsonBytes?: number;
  /** Largest accepted webhook body. @default 1 MiB */
  maxWebhookBytes?: number;
  /** WebSocket hub limits; the Server-Sent Events streams share its flow-control limits. */
  ws?: Omit<WsHubOptions, 'engine' | 'authenticate' | 'clock'>;
  /** Server-Sent Events (`/v1/events`, `/v1/jobs/:id/events`). */
  sse?: {
    /** A comment line this often keeps proxies from closing idle streams. @default 15000 */
    heartbeatMs?: number;
  };
  /** Scoped read tokens (`POST /v1/tokens`). */
  scopedTokens?: {
    /**
     * The HMAC key tokens are signed with (32+ bytes). @default 32 random bytes kept in
     * `<dataDir>/scoped-token-secret`, made at the first start; in a cluster, derived from `token`
     * (HKDF), so that every member checks every other member's tokens
     */
    secret?: Uint8Array;
    /** Lifetime of a token minted without `ttlSeconds`. @default 3600 */
    defaultTtlSeconds?: number;
    /** Longest lifetime a token may be minted with. @default 86400 */
    maxTtlSeconds?: number;
    /** The clock tokens expire by (tests). @default the system clock */
    clock?: SchedulerLike;
  };
  /**
   * Signed outbound webhooks (`/v1/webhooks`; see `WebhookOutbox`): kept in `<dataDir>/webhooks/`.
   * Not available in a cluster (the routes answer 501 and `env` is skipped with a log line).
   */
  webhooks?: Omit<WebhookOutboxOptions, 'engine' | 'dataDir' | 'dispatcher' | 'logger' | 'metrics'> & {
    /** The shared undici dispatcher deliveries go through. @default one of its own (`createDispatcher`) */
    dispatcher?: Dispatcher;
  };
  /** Routes to add at the root, besides the dashboard (which is always at `/`). */
  extraRoutes?: (app: Hono<{ Bindings: HttpBindings }>) => void;
  /**
   * Where the server logs start and stop, store failures and recoveries, provider outages and
   * rate-limit blocks, dropped WebSocket clients and rejected webhooks (see `createLogger`).
   * @default a silent logger: a server embedded in a program or a test writes nothing
   */
  logger?: Logger;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  /** The base URL providers call back to. */
  readonly publicUrl: string;
  readonly engine: Engine;
  readonly hub: WsHub;
  /** The Server-Sent Events streams. */
  readonly sse: SseHub;
  /**
   * Mints a scoped read token, as `POST /v1/tokens` does: it reads only the jobs of `filter`,
   * for `ttlSeconds` (default an hour).
   *
   * @example const { token } = server.mintToken({ metadata: { userId: '42' } }, 600);
   */
  mintToken(filter: TokenScope, ttlSeconds?: number): MintedToken;
  /** Stops taking requests, closes WebSockets, finishes durable writes. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the engine and serves the REST API, the webhook intake and the WebSocket hub on one
 * port. Resolves once listening.
 *
 * @example
 * const server = await startServer({ providers: [klangio], token: 'secret', port: 8080 });
 * console.log(server.url);
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir ?? './data';
  // The callback URL needs the port, which port 0 only tells after listening; webhook URLs are
  // only built when a job is submitted, after that.
  let publicUrl = options.publicUrl?.replace(/\/+$/, '');
  // A cluster member has no store in its data directory, but its uploads are its own.
  const lock = options.cluster === undefined ? undefined : await lockClusterDataDir(dataDir, options.cluster);
  const engine = await createEngine({
    providers: options.providers,
    dataDir,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    ...(options.resultsDir === undefined ? {} : { resultsDir: options.resultsDir }),
    ...(options.changeLogSize === undefined ? {} : { changeLogSize: options.changeLogSize }),
    ...(options.retainMs === undefined ? {} : { retainMs: options.retainMs }),
    webhookUrl: (provider, token) => `${publicUrl}/v1/hooks/${provider}/${token}`,
  }).catch(async (error: unknown) => {
    await lock?.release();
    throw error;
  });
  // The data directory is ours now (the store holds its lock): what is in uploads/ is left over
  // from a process that stopped mid-upload.
  const uploadDir = join(dataDir, 'uploads');
  try {
    await clearUploads(uploadDir);
  } catch (error) {
    await engine.close();
    await lock?.release();
    throw error;
  }
  let secret: Uint8Array;
  try {
    // Read while the data directory is ours (the store's or the cluster member's lock).
    secret = options.scopedTokens?.secret ?? (options.cluster === undefined ? await loadTokenSecret(dataDir) : deriveTokenSecret(options.token));
  } catch (error) {
    await engine.close();
    await lock?.release();
    throw error;
  }
  const scopedTokens = new ScopedTokens({
    secret,
    ...(options.scopedTokens?.defaultTtlSeconds === undefined ? {} : { defaultTtlSeconds: options.scopedTokens.defaultTtlSeconds }),
    ...(options.scopedTokens?.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: options.scopedTokens.maxTtlSeconds }),
    ...(options.scopedTokens?.clock === undefined ? {} : { clock: options.scopedTokens.clock }),
  });
  const authorize = tokenChecker(options.token);
  const authenticate = authenticator(authorize, scopedTokens);
  const hub = new WsHub({ engine, authenticate, clock: scopedTokens.clock, ...options.ws });
  const metrics = new ServerMetrics(engine, hub);
  const logger = options.logger ?? silentLogger();
  const { ws } = options;
  const sse = new SseHub({
    engine,
    clock: scopedTokens.clock,
    logger,
    ...(options.sse?.heartbeatMs === undefined ? {} : { heartbeatMs: options.sse.heartbeatMs }),
    ...(ws?.lagBytes === undefined ? {} : { lagBytes: ws.lagBytes }),
    ...(ws?.dropBytes === undefined ? {} : { dropBytes: ws.dropBytes }),
    ...(ws?.lagTimeoutMs === undefined ? {} : { lagTimeoutMs: ws.lagTimeoutMs }),
    ...(ws?.snapshotPageSize === undefined ? {} : { snapshotPageSize: ws.snapshotPageSize }),
    ...(ws?.maxConnections === undefined ? {} : { maxStreams: ws.maxConnections }),
  });
  // Outbound webhooks: one outbox per data directory. A cluster member has none: two members
  // would each deliver every change (see docs/protocol.md, "Outbound webhooks").
  const { dispatcher: webhookDispatcher, ...webhookOptions } = options.webhooks ?? {};
  const ownDispatcher = options.cluster === undefined && webhookDispatcher === undefined ? createDispatcher() : undefined;
  let outbox: WebhookOutbox | undefined;
  if (options.cluster !== undefined) {
    if (options.webhooks?.envEndpoint !== undefined) logger.warn('JOBSTREAM_WEBHOOK_URL is ignored in a cluster: outbound webhooks need the embedded store');
  } else {
    try {
      outbox = await WebhookOutbox.open({
        ...webhookOptions,
        engine,
        dataDir,
        dispatcher: webhookDispatcher ?? (ownDispatcher as Dispatcher),
        logger,
        metrics: outboxMetrics(metrics.registry, () => outbox?.pendingCount ?? 0),
      });
    } catch (error) {
      await hub.close();
      await sse.close();
      metrics.close();
      await engine.close();
      await ownDispatcher?.close();
      throw error;
    }
  }
  const events = logServerEvents(logger, { engine, hub });
  const requests = requestLogger(logger);
  const app = createHttpApp({
    engine,
    metrics,
    authorize,
    authenticate,
    scopedTokens,
    sse,
    outbox,
    uploadDir,
    maxUploadBytes: options.maxUploadBytes ?? 200 * 1024 * 1024,
    maxJsonBytes: options.maxJsonBytes ?? 1024 * 1024,
    maxWebhookBytes: options.maxWebhookBytes ?? 1024 * 1024,
    extra: (root) => {
      dashboardRoutes()(root);
      options.extraRoutes?.(root);
    },
  });
  const fetch = async (request: Request, env: HttpBindings | Http2Bindings): Promise<Response> => {
    const startedAt = Date.now();
    const response = await app.fetch(request, env);
    requests.log(request, response, startedAt);
    return response;
  };
  const server = createAdaptorServer({ fetch, hostname: host }) as Server;
  server.on('upgrade', (request, socket, head) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/v1/stream') hub.handleUpgrade(request, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await hub.close();
    await sse.close();
    await outbox?.close();
    await ownDispatcher?.close();
    metrics.close();
    await engine.close();
    await lock?.release();
    events.unsubscribe();
    requests.stop();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  publicUrl ??= url;
  logger.info({ url, publicUrl, dataDir, providers: engine.providers }, 'server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    publicUrl,
    engine,
    hub,
    sse,
    mintToken: (filter, ttlSeconds) => scopedTokens.mint(TokenScope.parse(filter), ttlSeconds),
    close() {
      closing ??= (async () => {
        logger.info('server stopping: finishing writes and closing connections');
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await hub.close();
        await sse.close();
        server.closeIdleConnections();
        await outbox?.close();
        await ownDispatcher?.close();
        await engine.close();
        await lock?.release();
        metrics.close();
        server.closeAllConnections();
        await stopped;
        events.unsubscribe();
        requests.stop();
        logger.info('server stopped');
      })();
      return closing;
    },
  };
}

/**
 * Takes a cluster member's data directory (uploads in transit only), so that two members never
 * share one: each clears its uploads at start. On failure the cluster backend is closed too
 * (the engine that would have owned it never started).
 */
async function lockClusterDataDir(dataDir: string, cluster: ClusterBackend): Promise<DirLock> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    return await lockDirectory(dataDir);
  } catch (error) {
    await cluster.close();
    throw error;
  }
}
