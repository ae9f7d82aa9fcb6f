import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { OutboxMetricsSink } from './webhook-outbox.js';

/**
 * The outbound-webhook metrics, on the server's registry: deliveries by outcome (`delivered`,
 * `failed`, `collapsed`), failed attempts (each is retried or ends its delivery), pending
 * deliveries (a gauge: what is being delivered or retried) and the lag from a change's commit to
 * the receiver's 2xx. No label names an endpoint's URL (it may carry a token in its path).
 *
 * @example const sink = outboxMetrics(metrics.registry, () => outbox?.pendingCount ?? 0);
 */
export function outboxMetrics(registry: Registry, pending: () => number): OutboxMetricsSink {
  const finished = new Counter({
    name: 'jobstream_outbound_webhook_deliveries_total',
    help: 'Outbound webhook deliveries that ended, by outcome: delivered, failed (given up, or 410), collapsed (a newer version of the job went instead).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const failedAttempts = new Counter({
    name: 'jobstream_outbound_webhook_failed_attempts_total',
    help: 'Outbound webhook attempts without a 2xx (non-2xx, timeout, connection error).',
    registers: [registry],
  });
  new Gauge({
    name: 'jobstream_outbound_webhook_deliveries_pending',
    help: 'Outbound webhook deliveries waiting for their first attempt or a retry.',
    registers: [registry],
    collect() {
      this.set(pending());
    },
  });
  const lag = new Histogram({
    name: 'jobstream_outbound_webhook_delivery_lag_seconds',
    help: 'Time from a job change being committed to the receiver answering 2xx for it.',
    buckets: [0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600, 86400],
    registers: [registry],
  });
  for (const outcome of ['delivered', 'failed', 'collapsed']) finished.inc({ outcome }, 0);
  return {
    finished(outcome, lagMs) {
      finished.inc({ outcome });
      if (lagMs !== undefined) lag.observe(Math.max(0, lagMs) / 1000);
    },
    attemptFailed() {
      failedAttempts.inc();
    },
  };
}
