import type { Benchmark } from './options.js';

/** Every benchmark by id, loaded on demand. */
export const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  B1: async () => (await import('../b1-fanout.js')).fanout,
  B2: async () => (await import('../b2-latency.js')).latency,
  B3: async () => (await import('../b3-job-memory.js')).jobMemory,
  B4: async () => (await import('../b4-subscriber-memory.js')).subscriberMemory,
  B5: async () => (await import('../b5-persistence.js')).persistence,
  B6: async () => (await import('../b6-polling.js')).polling,
  B7: async () => (await import('../b7-outage.js')).outage,
  B10: async () => (await import('../b10-durable-throughput.js')).durableThroughput,
  B11: async () => (await import('../b11-startup.js')).startup,
  B8: async () => (await import('../cluster-b8-latency.js')).clusterLatency,
  B9: async () => (await import('../cluster-b9-throughput.js')).clusterThroughput,
  FAILOVER: async () => (await import('../cluster-failover.js')).clusterFailover,
};
