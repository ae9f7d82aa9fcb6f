import { readFileSync } from 'node:fs';

/** Machine-wide CPU time counters (jiffies) from /proc/stat. */
export interface CpuTimes {
  user: number;
  system: number;
  softirq: number;
  steal: number;
  idle: number;
  total: number;
}

/** Reads the machine-wide CPU counters (all zero where /proc/stat is missing). */
export function cpuTimes(): CpuTimes {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { user: user + nice, system: system + irq, softirq, steal, idle: idle + iowait, total: fields.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return { user: 0, system: 0, softirq: 0, steal: 0, idle: 0, total: 0 };
  }
}

/** Shares of the whole machine's CPU time between two readings: where did the time go. */
export function cpuShares(from: CpuTimes, to: CpuTimes): { user: number; system: number; softirq: number; steal: number; idle: number } {
  const total = to.total - from.total || 1;
  const share = (key: keyof CpuTimes) => Math.round(((to[key] - from[key]) / total) * 1000) / 1000;
  return { user: share('user'), system: share('system'), softirq: share('softirq'), steal: share('steal'), idle: share('idle') };
}
