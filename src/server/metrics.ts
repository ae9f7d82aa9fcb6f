import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import type { Engine } from '../streams/engine.js';
import { isTerminal, type JobStatus } from '../streams/job-status.js';
import type { WsHubStats } from './ws-hub.js';

/** How many jobs' first terminal detection are remembered to measure the other channel's lag. */
const LAG_MEMORY = 10_000;

/**
 * The server's Prometheus metrics (text format via prom-client): jobs by provider and status,
 * transitions, polls by outcome, provider 429s, webhooks received / duplicate / rejected, the
 * lag between the webhook and the poll that saw the same terminal status, WebSocket clients and
 * dropped slow clients, failed store writes and whether the store can write.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #subscriptions: Subscription[] = [];
  readonly #webhooks: Counter<'provider' | 'outcome'>;
  readonly #counts = {
    webhooks: { applied: 0, duplicate: 0, rejected: 0 },
    polls: { ok: 0, 'rate-limited': 0, unavailable: 0, failed: 0 },
  };
  readonly #engine: Engine;
  /** First channel to see each job's terminal status, and when. */
  readonly #firstTerminal = new Map<string, { source: 'poll' | 'webhook'; at: number; status: JobStatus }>();

  constructor(engine: Engine, hub: { stats: WsHubStats; clientCount: number }) {
    this.#engine = engine;
    const registry = this.registry;
    new Gauge({
      name: 'jobstream_jobs',
      help: 'Jobs by provider and status.',
      labelNames: ['provider', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of engine.snapshot().jobs) this.inc({ provider: job.provider, status: job.status });
      },
    });
    const transitions = new Counter({
      name: 'jobstream_job_transitions_total',
      help: 'Accepted status changes, by provider and from/to status.',
      labelNames: ['provider', 'from', 'to'],
      registers: [registry],
    });
    const polls = new Counter({
      name: 'jobstream_polls_total',
      help: 'Provider polls by outcome (ok, rate-limited, unavailable, failed).',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    });
    const limited = new Counter({
      name: 'jobstream_provider_rate_limited_total',
      help: 'Provider answers that asked us to slow down (HTTP 429 or the provider equivalent).',
      labelNames: ['provider'],
      registers: [registry],
    });
    this.#webhooks = new Counter({
      name: 'jobstream_webhooks_total',
      help: 'Webhook deliveries by outcome: applied, duplicate, rejected.',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    });
    const lag = new Histogram({
      name: 'jobstream_webhook_poll_detection_lag_seconds',
      help: 'Time between the first and the second channel (webhook or poll) seeing the same terminal status; label first says which was first.',
      labelNames: ['provider', 'first'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    });
    new Gauge({
      name: 'jobstream_ws_clients',
      help: 'Open WebSocket connections.',
      registers: [registry],
      collect() {
        this.set(hub.clientCount);
      },
    });
    monotonic(registry, 'jobstream_ws_dropped_slow_clients_total', 'WebSocket clients dropped for not reading.', () => hub.stats.droppedSlowClients);
    monotonic(registry, 'jobstream_ws_dead_peers_total', 'WebSocket peers terminated by the heartbeat.', () => hub.stats.deadPeersTerminated);
    monotonic(registry, 'jobstream_ws_messages_sent_total', 'WebSocket messages sent.', () => hub.stats.messagesSent);
    monotonic(registry, 'jobstream_ws_protocol_errors_total', 'WebSocket client messages refused with an error.', () => hub.stats.protocolErrors);
    const unrecognised = new Counter({
      name: 'jobstream_webhooks_unrecognised_total',
      help: 'Webhook bodies the adapter did not fully recognise: they changed nothing and the job was confirmed by polling.',
      labelNames: ['provider'],
      registers: [registry],
    });
    const storeFailures = new Counter({
      name: 'jobstream_store_write_failures_total',
      help: 'Failed store writes (each is retried; while they fail, webhooks and writes are answered 503).',
      registers: [registry],
    });
    new Gauge({
      name: 'jobstream_store_up',
      help: '1 while the store can write, 0 while its writes fail (a full disk, an I/O error).',
      registers: [registry],
      collect() {
        this.set(engine.health.status === 'ok' ? 1 : 0);
      },
    });

    this.#subscriptions.push(
      engine.changes$().subscribe((change) => {
        transitions.inc({ provider: change.job.provider, from: change.previousStatus ?? 'none', to: change.job.status });
      }),
      engine.events$.subscribe((event) => {
        if (event.type === 'poll') {
          this.#counts.polls[event.outcome] += 1;
          polls.inc({ provider: event.provider, outcome: event.outcome });
          if (event.outcome === 'rate-limited') limited.inc({ provider: event.provider });
          if (event.observed !== undefined) this.#detected(lag, event.provider, event.jobId, 'poll', event.observed, event.endedAt);
        } else if (event.type === 'webhook') {
          this.#counts.webhooks[event.outcome] += 1;
          this.#webhooks.inc({ provider: event.provider, outcome: event.outcome });
          if (event.unrecognised === true) unrecognised.inc({ provider: event.provider });
          if (event.observed !== undefined) this.#detected(lag, event.provider, event.jobId, 'webhook', event.observed, event.at);
        } else if (event.type === 'store-error') {
          storeFailures.inc();
        }
      }),
    );
  }

  /**
   * Counts a webhook the intake refused (400, 404, 413). `provider` comes from the request path,
   * so it is labelled only when it names a configured provider, else as `unknown`: label values
   * come from a closed set, so no request can add series (each one costs memory for good).
   */
  webhookRejected(provider: string): void {
    this.#counts.webhooks.rejected += 1;
    const label = this.#engine.providers.includes(provider) ? provider : 'unknown';
    this.#webhooks.inc({ provider: label, outcome: 'rejected' });
  }

  /** The same figures as JSON, for the dashboard: jobs by status, webhooks and polls by outcome. */
  stats(): { jobs: Record<JobStatus, number>; webhooks: { applied: number; duplicate: number; rejected: number }; polls: Record<string, number> } {
    const jobs: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
    for (const job of this.#engine.snapshot().jobs) jobs[job.status] += 1;
    return { jobs, webhooks: { ...this.#counts.webhooks }, polls: { ...this.#counts.polls } };
  }

  /** The metrics in Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
  }

  #detected(lag: Histogram<'provider' | 'first'>, provider: string, jobId: string, source: 'poll' | 'webhook', status: JobStatus, at: number): void {
    if (!isTerminal(status)) return;
    const first = this.#firstTerminal.get(jobId);
    if (first === undefined) {
      if (this.#firstTerminal.size >= LAG_MEMORY) this.#firstTerminal.delete(this.#firstTerminal.keys().next().value as string);
      this.#firstTerminal.set(jobId, { source, at, status });
    } else if (first.source !== source && first.status === status) {
      lag.observe({ provider, first: first.source }, Math.max(0, at - first.at) / 1000);
      this.#firstTerminal.delete(jobId);
    }
  }
}

/** A counter that mirrors a monotonic number kept elsewhere. */
function monotonic(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}
