/**
 * Child process: a fleet of WebSocket subscribers, in groups (one group per server under test).
 * A group connects, optionally subscribes and waits for its snapshot, then either counts the
 * changes every client received (fan-out throughput) or records, per delivery, the latency from
 * the webhook's scheduled send time (open-loop latency). Started by {@link BenchChild}.
 */
import { WebSocket, type RawData } from 'ws';
import { serveParent } from './child-side.js';
import { percentile } from './stats.js';

const MARKER = Buffer.from('"seq":');
const SNAPSHOT_DONE = [Buffer.from('"type":"snapshot"'), Buffer.from('"more":false')] as const;

interface Counting {
  kind: 'count';
  messages: number;
  bytes: number;
  step: number;
  counts: Int32Array;
  /** step index → clients that have reached it */
  reached: Map<number, number>;
  completedSteps: number;
}

interface Timing {
  kind: 'latency';
  t0: bigint;
  intervalNs: number;
  count: number;
  base: number;
  /** Deliveries go round-robin over this many jobs: delivery i changes job (base + i) % jobs. */
  jobs: number;
  /** Per client, per job: the first delivery index this client has not yet seen covered. */
  uncovered: Int32Array[];
  samples: Float64Array;
  taken: number;
  expected: number;
  done: (() => void) | undefined;
}

interface Group {
  readonly name: string;
  readonly clients: WebSocket[];
  readonly waiting: Map<number, () => void>;
  mode: Counting | Timing | undefined;
  closedEarly: number;
}

const groups = new Map<string, Group>();

function groupOf(name: string): Group {
  const group = groups.get(name);
  if (group === undefined) throw new Error(`no group "${name}"`);
  return group;
}

function toBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function countMarkers(data: Buffer): number {
  let n = 0;
  for (let at = data.indexOf(MARKER); at !== -1; at = data.indexOf(MARKER, at + MARKER.length)) n++;
  return n;
}

function receive(group: Group, index: number, raw: RawData): void {
  const data = toBuffer(raw);
  const waiting = group.waiting.get(index);
  if (waiting !== undefined) {
    if (SNAPSHOT_DONE.every((part) => data.includes(part))) {
      group.waiting.delete(index);
      waiting();
    }
    return;
  }
  const mode = group.mode;
  if (mode === undefined) return;
  if (mode.kind === 'count') {
    mode.messages += 1;
    mode.bytes += data.length;
    const before = mode.counts[index]!;
    const after = before + countMarkers(data);
    mode.counts[index] = after;
    const clients = group.clients.length;
    for (let s = Math.floor(before / mode.step) + 1; s <= Math.floor(after / mode.step); s++) {
      const reached = (mode.reached.get(s) ?? 0) + 1;
      mode.reached.set(s, reached);
      if (reached === clients && s === mode.completedSteps + 1) {
        while (mode.reached.get(mode.completedSteps + 1) === clients) {
          mode.reached.delete(++mode.completedSteps);
        }
        emit('progress', { name: group.name, changes: mode.completedSteps * mode.step });
      }
    }
    return;
  }
  const now = process.hrtime.bigint();
  const message = JSON.parse(data.toString('utf8')) as { type: string; changes?: { job: { progress: number | null } }[] };
  if (message.type !== 'change' || message.changes === undefined) return;
  const sinceT0 = Number(now - mode.t0);
  const uncovered = mode.uncovered[index]!;
  for (const change of message.changes) {
    const global = Math.round((change.job.progress ?? 0) * 1e7) - 1;
    const seen = global - mode.base;
    if (seen < 0 || seen >= mode.count) continue;
    // A state covers every earlier delivery to the same job: a server that sends only the latest
    // state to a client that fell behind has still brought it up to date, at this moment.
    const job = global % mode.jobs;
    for (let k = uncovered[job]!; k <= seen && mode.taken < mode.samples.length; k += mode.jobs) {
      mode.samples[mode.taken++] = (sinceT0 - k * mode.intervalNs) / 1e6;
    }
    uncovered[job] = Math.max(uncovered[job]!, seen + mode.jobs);
  }
  if (mode.taken >= mode.expected) mode.done?.();
}

function connectOne(group: Group, url: string, headers: Record<string, string>, subscribe: string | undefined): Promise<void> {
  const index = group.clients.length;
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, skipUTF8Validation: true });
  group.clients.push(ws);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client ${index} of ${group.name} did not get ready within 60 s`)), 60_000);
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.on('message', (data) => receive(group, index, data));
    ws.once('open', () => {
      if (subscribe === undefined) return ready();
      group.waiting.set(index, ready);
      ws.send(subscribe);
    });
    ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: HTTP ${response.statusCode}`)));
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once('close', () => {
      if (group.mode !== undefined) group.closedEarly += 1;
    });
  });
}

const { emit } = serveParent({
  async connect(args: { name: string; url: string; count: number; headers?: Record<string, string>; subscribe?: string; batch?: number }) {
    let group = groups.get(args.name);
    if (group === undefined) {
      group = { name: args.name, clients: [], waiting: new Map(), mode: undefined, closedEarly: 0 };
      groups.set(args.name, group);
    }
    const started = performance.now();
    const batch = args.batch ?? 100;
    for (let i = 0; i < args.count; i += batch) {
      const opening: Promise<void>[] = [];
      for (let j = i; j < Math.min(args.count, i + batch); j++) opening.push(connectOne(group, args.url, args.headers ?? {}, args.subscribe));
      await Promise.all(opening);
    }
    return { clients: group.clients.length, ms: performance.now() - started };
  },

  async disconnect(args: { name: string }) {
    const group = groups.get(args.name);
    if (group === undefined) return { closed: 0 };
    groups.delete(args.name);
    group.mode = undefined;
    const closing = group.clients.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 5000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close();
        }),
    );
    await Promise.all(closing);
    return { closed: group.clients.length };
  },

  /** Sends one text message from every client of a group. */
  send(args: { name: string; text: string }) {
    for (const ws of groupOf(args.name).clients) ws.send(args.text);
    return { sent: groupOf(args.name).clients.length };
  },

  countStart(args: { name: string; step: number }) {
    const group = groupOf(args.name);
    group.closedEarly = 0;
    group.mode = { kind: 'count', messages: 0, bytes: 0, step: args.step, counts: new Int32Array(group.clients.length), reached: new Map(), completedSteps: 0 };
    return { cpu: process.cpuUsage() };
  },

  countStop(args: { name: string }) {
    const group = groupOf(args.name);
    const mode = group.mode;
    group.mode = undefined;
    if (mode?.kind !== 'count') throw new Error(`group "${args.name}" is not counting`);
    const counts = Array.from(mode.counts);
    return { min: Math.min(...counts), max: Math.max(...counts), messages: mode.messages, bytes: mode.bytes, closedEarly: group.closedEarly, cpu: process.cpuUsage() };
  },

  latencyStart(args: { name: string; t0: string; intervalNs: number; count: number; base: number; jobs: number }) {
    const group = groupOf(args.name);
    group.closedEarly = 0;
    const expected = args.count * group.clients.length;
    const first = Int32Array.from({ length: args.jobs }, (_, job) => (job - (args.base % args.jobs) + args.jobs) % args.jobs);
    group.mode = {
      kind: 'latency',
      t0: BigInt(args.t0),
      intervalNs: args.intervalNs,
      count: args.count,
      base: args.base,
      jobs: args.jobs,
      uncovered: group.clients.map(() => first.slice()),
      samples: new Float64Array(expected),
      taken: 0,
      expected,
      done: undefined,
    };
    return { cpu: process.cpuUsage() };
  },

  async latencyStop(args: { name: string; waitMs: number }) {
    const group = groupOf(args.name);
    const mode = group.mode;
    if (mode?.kind !== 'latency') throw new Error(`group "${args.name}" is not timing`);
    if (mode.taken < mode.expected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, args.waitMs);
        mode.done = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    group.mode = undefined;
    const sorted = mode.samples.subarray(0, mode.taken).sort();
    // A delivery that never came counts as infinitely late (it is in the tail, not left out).
    const at = (p: number) => (Math.ceil((p / 100) * mode.expected) > mode.taken ? Infinity : percentile(sorted.subarray(0, mode.taken), (p * mode.expected) / mode.taken));
    return {
      deliveries: mode.taken,
      missing: mode.expected - mode.taken,
      p50: at(50),
      p99: at(99),
      max: mode.taken < mode.expected ? Infinity : sorted[sorted.length - 1],
      closedEarly: group.closedEarly,
      cpu: process.cpuUsage(),
    };
  },
});
