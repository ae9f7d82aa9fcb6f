/**
 * Child process: sends webhook deliveries (HTTP POST, JSON) to a list of URLs, either open-loop
 * (each request at its scheduled time, whatever happened to the previous ones, so a slow server
 * cannot slow the load down and hide its own latency) or closed-loop (N in flight, as fast as
 * answers come: finds the ceiling). Delivery i goes to url[i % urls.length] with a progress that
 * encodes i, so a subscriber can tell which delivery a change came from.
 */
import { Agent, request } from 'node:http';
import { serveParent } from './child-side.js';
import { percentile } from './stats.js';

interface Target {
  urls: string[];
  externalIds: string[];
  /** Global index of delivery 0 (progress must keep rising across runs). */
  base: number;
}

// Idle sockets are closed by this side after 2 s, before the servers' 5 s keep-alive timeout, so
// a request never races the server closing the socket it was about to reuse.
const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 2000 });

/** The body of delivery `i`: raises its job's progress to (base + i + 1) / 1e7. */
function bodyOf(target: Target, i: number): { url: string; body: string } {
  const j = (target.base + i) % target.urls.length;
  return {
    url: target.urls[j]!,
    body: JSON.stringify({ id: target.externalIds[j], status: 'WORKING', progress: (target.base + i + 1) / 1e7 }),
  };
}

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
    req.end(body);
  });
}

serveParent({
  /** Sends `count` deliveries, delivery i at t0 + i × intervalNs (process.hrtime, shared by every process). */
  async openLoop(args: Target & { t0: string; intervalNs: number; count: number }) {
    const t0 = BigInt(args.t0);
    const statuses = new Map<number, number>();
    const lateMs = new Float64Array(args.count);
    const answers: Promise<void>[] = [];
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = Number(process.hrtime.bigint() - t0);
        const due = elapsed < 0 ? 0 : Math.min(args.count, Math.floor(elapsed / args.intervalNs) + 1);
        while (next < due) {
          const i = next++;
          lateMs[i] = (elapsed - i * args.intervalNs) / 1e6;
          const { url, body } = bodyOf(args, i);
          answers.push(post(url, body).then((status) => void statuses.set(status, (statuses.get(status) ?? 0) + 1)));
        }
        if (next < args.count) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    await Promise.all(answers);
    const sorted = lateMs.sort();
    return { sent: args.count, statuses: Object.fromEntries(statuses), sendLateP99Ms: percentile(sorted, 99), sendLateMaxMs: sorted[sorted.length - 1] };
  },

  /** Keeps `concurrency` deliveries in flight for `durationMs`; returns how many were sent. */
  async closedLoop(args: Target & { concurrency: number; durationMs: number }) {
    const deadline = performance.now() + args.durationMs;
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const { url, body } = bodyOf(args, next++);
        if ((await post(url, body)) !== 200) failed += 1;
      }
    };
    await Promise.all(Array.from({ length: args.concurrency }, worker));
    return { sent: next, failed };
  },
});
