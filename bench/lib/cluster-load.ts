/**
 * Child process for B9: WebSocket subscribers spread over one or more servers, and a webhook
 * sender whose changes they count. The sender keeps `concurrency` webhooks in flight, each
 * worker sending to its own jobs one after another (so a job's changes never race each other),
 * round-robin over the servers, and never runs more than `window` changes ahead of the slowest
 * subscriber (bounded buffers; a subscriber that fell behind would otherwise be sent only the
 * latest state of each job, and the count would not be of every change). A run ends when every
 * subscriber has received every applied change. Started by {@link BenchChild}.
 */
import { Agent, request } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { serveParent } from './child-side.js';

const MARKER = Buffer.from('"seq":');
const SNAPSHOT_DONE = [Buffer.from('"type":"snapshot"'), Buffer.from('"more":false')] as const;

const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 2000 });

interface Client {
  ws: WebSocket;
  count: number;
  /** Change messages (frames) received in the run. */
  messages: number;
  ready: (() => void) | undefined;
}

interface Group {
  clients: Client[];
  closedEarly: number;
  counting: boolean;
}

const groups = new Map<string, Group>();
/** Counting state of the run in progress. */
let counting: { group: Group; reached: Map<number, number>; completed: number; wake: Array<() => void> } | undefined;
/** Rises across runs, so every webhook raises its job's progress. */
let serial = 0;

function toBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function receive(group: Group, client: Client, raw: RawData): void {
  const data = toBuffer(raw);
  if (client.ready !== undefined) {
    if (SNAPSHOT_DONE.every((part) => data.includes(part))) {
      const ready = client.ready;
      client.ready = undefined;
      ready();
    }
    return;
  }
  const run = counting;
  if (run === undefined || run.group !== group) return;
  let n = 0;
  for (let at = data.indexOf(MARKER); at !== -1; at = data.indexOf(MARKER, at + MARKER.length)) n++;
  const before = client.count;
  client.count += n;
  if (n > 0) client.messages += 1;
  const all = group.clients.length;
  let advanced = false;
  for (let s = before + 1; s <= client.count; s++) {
    const reached = (run.reached.get(s) ?? 0) + 1;
    run.reached.set(s, reached);
    if (reached === all && s === run.completed + 1) {
      while (run.reached.get(run.completed + 1) === all) run.reached.delete(++run.completed);
      advanced = true;
    }
  }
  if (advanced) for (const wake of run.wake.splice(0)) wake();
}

function connectOne(group: Group, url: string, headers: Record<string, string>, subscribe: string): Promise<void> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, skipUTF8Validation: true });
  const client: Client = { ws, count: 0, messages: 0, ready: undefined };
  group.clients.push(client);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`a subscriber of ${url} did not get its snapshot within 60 s`)), 60_000);
    ws.on('message', (data) => receive(group, client, data));
    ws.once('open', () => {
      client.ready = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.send(subscribe);
    });
    ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: HTTP ${response.statusCode}`)));
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once('close', () => {
      if (group.counting) group.closedEarly += 1;
    });
  });
}

/** POSTs one webhook; resolves with whether the engine applied it (200 and outcome `applied`). */
function post(url: string, body: string): Promise<'applied' | 'other' | 'failed'> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve('failed');
        resolve(Buffer.concat(chunks).toString('utf8').includes('"outcome":"applied"') ? 'applied' : 'other');
      });
      res.on('error', () => resolve('failed'));
    });
    req.on('error', () => resolve('failed'));
    req.end(body);
  });
}

serveParent({
  /** Connects `count` subscribers, spread round-robin over `urls`, each subscribed and past its snapshot. */
  async connect(args: { name: string; urls: string[]; count: number; headers: Record<string, string>; subscribe: string }) {
    const group: Group = { clients: [], closedEarly: 0, counting: false };
    groups.set(args.name, group);
    for (let i = 0; i < args.count; i += 100) {
      const opening: Promise<void>[] = [];
      for (let j = i; j < Math.min(args.count, i + 100); j++) opening.push(connectOne(group, args.urls[j % args.urls.length]!, args.headers, args.subscribe));
      await Promise.all(opening);
    }
    return { clients: group.clients.length };
  },

  /**
   * Sends webhooks for `durationMs` (see the file's comment) and waits until every subscriber of
   * group `name` has every applied change. Webhook k goes to `servers[k % servers.length]`.
   */
  async run(args: { name: string; servers: string[]; jobs: { path: string; externalId: string }[]; concurrency: number; window: number; durationMs: number; drainMs: number }) {
    const group = groups.get(args.name);
    if (group === undefined) throw new Error(`no group "${args.name}"`);
    for (const client of group.clients) {
      client.count = 0;
      client.messages = 0;
    }
    group.closedEarly = 0;
    group.counting = true;
    const run = { group, reached: new Map<number, number>(), completed: 0, wake: [] as Array<() => void> };
    counting = run;
    const outcomes = { applied: 0, other: 0, failed: 0 };
    let sent = 0;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + args.durationMs;
    const worker = async (w: number) => {
      const mine = args.jobs.filter((_, j) => j % args.concurrency === w);
      for (let i = 0; performance.now() < deadline && mine.length > 0; i++) {
        while (sent - run.completed >= args.window) await new Promise<void>((resolve) => run.wake.push(resolve));
        if (performance.now() >= deadline) break;
        const job = mine[i % mine.length]!;
        const k = sent++;
        const body = JSON.stringify({ id: job.externalId, status: 'WORKING', progress: ++serial / 1e7 });
        outcomes[await post(`${args.servers[k % args.servers.length]}${job.path}`, body)] += 1;
      }
    };
    await Promise.all(Array.from({ length: args.concurrency }, (_, w) => worker(w)));
    const sendMs = performance.now() - t0;
    // Every applied change must reach every subscriber (bounded: a lost one shows as `undelivered`).
    const drainDeadline = performance.now() + args.drainMs;
    while (run.completed < outcomes.applied && performance.now() < drainDeadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, drainDeadline - performance.now()));
        run.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const ms = performance.now() - t0;
    counting = undefined;
    group.counting = false;
    const counts = group.clients.map((c) => c.count);
    const used = process.cpuUsage(cpu);
    return {
      sent,
      ...outcomes,
      delivered: run.completed,
      undelivered: Math.max(0, outcomes.applied - run.completed),
      /** Change messages per subscriber: fewer than changes when the server batches several into one. */
      messagesPerClient: group.clients.reduce((sum, c) => sum + c.messages, 0) / group.clients.length,
      minCount: Math.min(...counts),
      maxCount: Math.max(...counts),
      sendMs,
      ms,
      closedEarly: group.closedEarly,
      cpuMs: (used.user + used.system) / 1000,
    };
  },
});
