import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { createEngine } from '../src/streams/engine.js';
import { FileStore } from '../src/streams/file-store.js';
import { webhookToken } from '../src/streams/job-id.js';
import type { StoredJob } from '../src/streams/job-store.js';
import { FakeProvider } from '../test/support/fake-provider.js';
import { DiskBytes, writtenChars } from './lib/disk-bytes.js';
import { IDLE_POLICY, makeStoredJobs } from './lib/fixtures.js';
import { interleave } from './lib/interleave.js';
import type { BenchOptions } from './lib/options.js';
import { median, range } from './lib/stats.js';
import { fmt, type Row } from './lib/table.js';

const RATE = 500;
/**
 * Changes at the same rate before the measured window (not counted), for at least this long and
 * until two young-generation collections since loading have happened: V8 promotes an object
 * that survives two, so these two copy what the load left in the young generation, one-off
 * pauses of 4-15 ms with 100,000 jobs, start-up rather than persistence (docs/benchmarks.md
 * reports them).
 */
const WARM_SECONDS = 1;

interface Stall {
  /** Event-loop delay while only the load generator ticks (ms). */
  idleP99: number;
  p99: number;
  max: number;
}

interface Run extends Stall {
  changes: number;
  /** Σ serialised size of every changed job snapshot (JSON.stringify(job), UTF-8 bytes). */
  changedBytes: number;
  /** Bytes written into the data directory, from file sizes (compaction included). */
  writtenBytes: number;
  writtenByFile: Record<string, number>;
  /** Bytes passed to write(2) by the whole process during the run (/proc/self/io), a cross-check. */
  wchar: number;
  /** written ÷ changed over this run. */
  windowAmplification: number;
  /** Steady state over whole compaction cycles (engine; see docs/benchmarks.md). */
  amplification: number;
  compactions: number;
  /** The longest young-generation collection during the warm-up (the one after loading), ms. */
  warmUpGcMs: number;
}

/**
 * B5: persistence cost with 100,000 jobs (90% finished) and 500 changes per second arriving as
 * webhooks, through the engine with a FileStore in a temp dir (fsync on), against lowdb's
 * JSONFile rewriting the whole file on every change. Measures write amplification (bytes
 * written ÷ serialised size of the changed job snapshots) and the event-loop delay
 * (monitorEventLoopDelay, p99 and max; "added" = minus the idle p99 measured just before).
 */
export async function persistence(options: BenchOptions): Promise<Row[]> {
  const jobs = options.quick ? 10_000 : 100_000;
  const seconds = options.quick ? 1 : 15;
  const idleSeconds = options.quick ? 0.5 : 1;
  const root = await mkdtemp(join(tmpdir(), 'jobstream-b5-'));
  try {
    const stored = makeStoredJobs('fake', jobs, 0.9);
    const running = stored.filter((s) => s.job.status === 'running');
    const template = join(root, 'template');
    const prefill = await prepareEngineDir(template, stored, running, WARM_SECONDS + seconds / 3);
    const lowdbTemplate = join(root, 'lowdb.json');
    const lowdbSeed = new Low(new JSONFile<{ jobs: StoredJob[] }>(lowdbTemplate), { jobs: [] });
    lowdbSeed.data = { jobs: stored };
    await lowdbSeed.write();
    options.log(`B5 ${jobs} jobs (${running.length} running); snapshot ${fmt(prefill.snapshotBytes)} B, journal prefilled to ${fmt(prefill.journalBytes)} B; lowdb file ${fmt((await stat(lowdbTemplate)).size)} B`);

    let round = 0;
    const engineRun = async (): Promise<Run> => {
      const dir = join(root, `engine-${round++}`);
      await cp(template, dir, { recursive: true });
      try {
        return await runEngine(dir, running, seconds, idleSeconds, prefill);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    const lowdbRun = async (): Promise<Run> => {
      const dir = join(root, `lowdb-${round++}`);
      await cp(lowdbTemplate, join(dir, 'lowdb.json'), { recursive: true });
      try {
        return await runLowdb(dir, seconds, idleSeconds);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    const { a, b } = await interleave(
      { rounds: options.rounds, warmup: false, log: options.log, label: 'B5', show: (r) => showRun(r as Run) },
      engineRun,
      lowdbRun,
    );
    const wa = { engine: median(a.map((r) => r.amplification)), lowdb: median(b.map((r) => r.amplification)) };
    const added = { engine: median(a.map((r) => r.p99 - r.idleP99)), lowdb: median(b.map((r) => r.p99 - r.idleP99)) };
    const max = { engine: median(a.map((r) => r.max)), lowdb: median(b.map((r) => r.max)) };
    const details = { jobs, running: running.length, changesPerSecond: RATE, seconds, idleSeconds, prefill, windowAmplificationRange: range(a.map((r) => r.windowAmplification)), engine: a, lowdb: b };
    return [
      {
        id: 'B5',
        measure: `write amplification, ${jobs.toLocaleString('en-US')} jobs (90% done), ${RATE} changes/s`,
        engine: `${fmt(wa.engine)}x`,
        baseline: `${fmt(wa.lowdb)}x`,
        ratio: wa.engine / wa.lowdb,
        target: 'engine ≤ 20x',
        met: wa.engine <= 20,
        details,
      },
      {
        id: 'B5',
        measure: 'added p99 event-loop delay (same runs)',
        engine: `${fmt(added.engine)} ms`,
        baseline: `${fmt(added.lowdb)} ms`,
        ratio: added.engine / added.lowdb,
        target: 'engine ≤ 5 ms',
        met: added.engine <= 5,
      },
      {
        id: 'B5',
        measure: 'worst event-loop stall, max (same runs; compaction included)',
        engine: `${fmt(max.engine)} ms`,
        baseline: `${fmt(max.lowdb)} ms`,
        ratio: max.engine / max.lowdb,
        target: 'engine ≤ 5 ms',
        met: max.engine <= 5,
      },
    ];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

interface Prefill {
  snapshotBytes: number;
  journalBytes: number;
  /** Σ serialised size of the job snapshots in the prefilled journal lines. */
  journalChangedBytes: number;
}

/**
 * A data directory one compaction cycle in: a snapshot of every job, and a journal (written by
 * FileStore.append, as the engine would) just short of the snapshot's size, so that the run
 * triggers one compaction `compactAfterSeconds` into the traffic (the warm-up, then a third of
 * the measured window).
 */
async function prepareEngineDir(dir: string, stored: StoredJob[], running: StoredJob[], compactAfterSeconds: number): Promise<Prefill> {
  const store = await FileStore.open({ dir });
  await store.load();
  await store.compact(() => stored);
  const snapshotBytes = (await stat(join(dir, 'jobs.json'))).size;
  const lineBytes = Buffer.byteLength(JSON.stringify(running[0])) + 1;
  const target = snapshotBytes - RATE * compactAfterSeconds * lineBytes;
  let journalChangedBytes = 0;
  for (let i = 0; store.journalBytes + lineBytes <= target; ) {
    const lines = Math.max(1, Math.min(2000, Math.floor((target - store.journalBytes) / lineBytes)));
    const batch = Array.from({ length: lines }, (_, k) => running[(i + k) % running.length]!);
    i += lines;
    for (const s of batch) journalChangedBytes += Buffer.byteLength(JSON.stringify(s.job));
    await store.append(batch);
  }
  const journalBytes = store.journalBytes;
  await store.close();
  return { snapshotBytes, journalBytes, journalChangedBytes };
}

/**
 * 500 changes per second for `seconds`, open loop: change i is due at i / RATE s. Each change
 * runs in its own event-loop turn, as a webhook request would, so a store that blocks shows up
 * as one stall per change rather than one stall for the whole backlog.
 */
async function generate(seconds: number, change: (i: number) => void): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let issued = 0;
  for (;;) {
    const now = performance.now();
    if (now >= end) return issued;
    const due = Math.min(Math.floor(((now - t0) / 1000) * RATE) + 1, Math.round(seconds * RATE));
    if (issued < due) {
      change(issued++);
      await nextTurn();
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

/**
 * The warm-up: `change` at the same rate for {@link WARM_SECONDS}, then on in half seconds until
 * two young-generation collections happened since it began (at most 20 s). Returns the longest
 * such collection, in ms.
 */
async function warmUp(change: (i: number) => void, settle: () => Promise<unknown>): Promise<number> {
  let minor = 0;
  let longest = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        minor += 1;
        longest = Math.max(longest, entry.duration);
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    let offset = 0;
    const step = (i: number): void => change(offset + i);
    offset += await generate(WARM_SECONDS, step);
    for (let extra = 0; minor < 2 && extra < 40; extra++) offset += await generate(0.5, step);
    await settle();
    // Entries arrive after the collection, on a later turn.
    await nextTurn();
    return longest;
  } finally {
    observer.disconnect();
  }
}

async function measureIdle(seconds: number): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await generate(seconds, () => undefined);
  h.disable();
  return h.percentile(99) / 1e6;
}

async function runEngine(dir: string, running: StoredJob[], seconds: number, idleSeconds: number, prefill: Prefill): Promise<Run> {
  const provider = new FakeProvider({ pollPolicy: IDLE_POLICY });
  for (const { job } of running) provider.set(job.externalId!, 'WORKING', { progress: 0.5 });
  const engine = await createEngine({ providers: [provider], dataDir: dir, resultsDir: false, webhookUrl: (p, t) => `http://127.0.0.1:1/v1/hooks/${p}/${t}` });
  let changedBytes = 0;
  let changes = 0;
  const subscription = engine.changes$().subscribe((change) => {
    changes += 1;
    changedBytes += Buffer.byteLength(JSON.stringify(change.job));
  });
  const tokens = running.map((s) => webhookToken(s.job.id, s.secret));
  const progress = new Float64Array(running.length).fill(500_000);
  const pending: Promise<unknown>[] = [];
  const change = (i: number): void => {
    const j = i % running.length;
    const body = { id: running[j]!.job.externalId, status: 'WORKING', progress: ++progress[j]! / 1e6 };
    pending.push(engine.ingestWebhook({ provider: 'fake', token: tokens[j]!, body }));
  };
  try {
    const idleP99 = await measureIdle(idleSeconds);
    const warmUpGcMs = await warmUp(change, () => Promise.all(pending.splice(0)));
    changes = 0;
    changedBytes = 0;
    const disk = await DiskBytes.start(dir);
    const wchar = writtenChars();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await generate(seconds, change);
    await Promise.all(pending);
    // close() waits for a compaction in progress: its bytes and stalls belong to this run.
    await engine.close();
    h.disable();
    const written = await disk.stop();
    const journals = Object.entries(written.byFile)
      .filter(([name]) => name.startsWith('journal-'))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const journalBytes = journals.reduce((sum, [, bytes]) => sum + bytes, 0);
    // Every journal but the newest was folded into a snapshot: those bytes closed a cycle.
    const compactedJournalBytes = journals.slice(0, -1).reduce((sum, [, bytes]) => sum + bytes, 0);
    const snapshotBytes = written.total - journalBytes;
    const compactions = Math.round(snapshotBytes / prefill.snapshotBytes);
    // Steady state: per compaction cycle the journal grows to the snapshot's size, then the
    // snapshot is rewritten once. So, per changed byte: the journal bytes (measured in this
    // run) times 1 + snapshot bytes per compaction ÷ journal bytes per cycle (the prefill plus
    // what this run added to the journal that was compacted).
    const journalPerChanged = journalBytes / changedBytes;
    const cycleJournal = prefill.journalBytes + compactedJournalBytes;
    const amplification = compactions === 0 ? Number.NaN : journalPerChanged * (1 + snapshotBytes / compactions / (cycleJournal / compactions));
    return {
      changes,
      changedBytes,
      writtenBytes: written.total,
      writtenByFile: written.byFile,
      wchar: writtenChars() - wchar,
      windowAmplification: written.total / changedBytes,
      amplification,
      compactions,
      idleP99,
      p99: h.percentile(99) / 1e6,
      max: h.max / 1e6,
      warmUpGcMs,
    };
  } finally {
    subscription.unsubscribe();
    await engine.close();
  }
}

async function runLowdb(dir: string, seconds: number, idleSeconds: number): Promise<Run> {
  const db = new Low(new JSONFile<{ jobs: StoredJob[] }>(join(dir, 'lowdb.json')), { jobs: [] });
  await db.read();
  const running: number[] = [];
  db.data.jobs.forEach((s, i) => s.job.status === 'running' && running.push(i));
  const idleP99 = await measureIdle(idleSeconds);
  let changedBytes = 0;
  const writes: Promise<void>[] = [];
  const change = (i: number): void => {
    const index = running[i % running.length]!;
    const previous = db.data.jobs[index]!;
    const job = { ...previous.job, progress: Math.min(1, (previous.job.progress ?? 0) + 1e-6), version: previous.job.version + 1, updatedAt: Date.now(), source: 'webhook' as const };
    changedBytes += Buffer.byteLength(JSON.stringify(job));
    db.data.jobs[index] = { job, secret: previous.secret };
    writes.push(db.write());
  };
  // The same warm-up as the engine's.
  const warmUpGcMs = await warmUp(change, () => Promise.all(writes.splice(0)));
  changedBytes = 0;
  const disk = await DiskBytes.start(dir);
  const wchar = writtenChars();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const changes = await generate(seconds, change);
  await Promise.all(writes);
  h.disable();
  const written = await disk.stop();
  return {
    changes,
    changedBytes,
    writtenBytes: written.total,
    writtenByFile: written.byFile,
    wchar: writtenChars() - wchar,
    windowAmplification: written.total / changedBytes,
    // Every change rewrites the whole file (steno skips a write only when a newer one is queued).
    amplification: written.total / changedBytes,
    compactions: 0,
    idleP99,
    p99: h.percentile(99) / 1e6,
    max: h.max / 1e6,
    warmUpGcMs,
  };
}

function showRun(r: Run): string {
  return `${r.changes} changes, WA ${fmt(r.amplification)} (window ${fmt(r.windowAmplification)}, ${r.compactions} compaction) written ${fmt(r.writtenBytes)} B wchar ${fmt(r.wchar)} B; delay idle p99 ${fmt(r.idleP99)} p99 ${fmt(r.p99)} max ${fmt(r.max)} ms (warm-up young GC ${fmt(r.warmUpGcMs)} ms)`;
}
