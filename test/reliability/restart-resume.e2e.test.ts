import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PROVIDERS } from '../../src/providers/provider-catalog.js';
import { ServerMessage } from '../../src/server/ws-protocol.js';
import { isSettled } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { TestProcess } from '../support/processes.js';
import { startSimulatorFleet, type SimulatorFleet } from './provider-fleet.js';

const TOKEN = 'reliability-restart-token-0123';

let fleet: SimulatorFleet | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await TestProcess.killAll();
  await fleet?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** What a subscriber compares of a change: its place in the log and the state it carries. */
type Seen = [seq: number, id: string, version: number, status: string, previousStatus: string | null];

/**
 * One WebSocket subscriber to every job: records each change it receives (and which kind of
 * answer its subscription got), remembers where it stopped, and resumes from there on a new
 * connection. Waits are on messages, never on time.
 */
class Subscriber {
  readonly seen: Seen[] = [];
  readonly answers: string[] = [];
  readonly problems: string[] = [];
  readonly latest = new Map<string, JobSnapshot>();
  epoch: string | undefined;
  seq = 0;
  #ws: WebSocket | undefined;
  #waiters = new Set<() => void>();

  async connect(url: string): Promise<void> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    this.#ws = ws;
    ws.on('message', (data: Buffer) => this.#receive(ServerMessage.parse(JSON.parse(data.toString('utf8')))));
    ws.on('close', () => this.#wake());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const resume = this.epoch === undefined ? {} : { resume: { epoch: this.epoch, seq: this.seq } };
    const answered = this.answers.length;
    ws.send(JSON.stringify({ type: 'subscribe', sub: 'all', ...resume }));
    await this.until(() => this.answers.length > answered, 'the answer to the subscription');
  }

  /** Closes its side (a client that leaves). */
  async leave(): Promise<void> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
  }

  /** Resolves once `test` holds, checked after every message. */
  until(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; at seq ${this.seq}, answers ${this.answers.join(',')}`));
      }, timeoutMs);
      const check = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #receive(message: ServerMessage): void {
    switch (message.type) {
      case 'snapshot':
        this.answers.push(`snapshot:${message.reason}`);
        this.epoch = message.epoch;
        this.seq = message.seq;
        for (const job of message.jobs) this.latest.set(job.id, job);
        break;
      case 'resumed':
        this.answers.push('resumed');
        if (message.epoch !== this.epoch) this.problems.push(`resumed in epoch ${message.epoch}, was ${this.epoch}`);
        break;
      case 'change':
        for (const { seq, job, previousStatus } of message.changes) {
          if (seq <= this.seq) this.problems.push(`seq ${seq} after ${this.seq}`);
          this.seq = seq;
          this.seen.push([seq, job.id, job.version, job.status, previousStatus]);
          this.latest.set(job.id, job);
        }
        break;
      case 'error':
        this.problems.push(`error ${message.code}: ${message.message}`);
        break;
      default:
        break;
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

async function submit(url: string, n: number): Promise<JobSnapshot> {
  const answer = await request(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url: `https://example.com/talk-${n}.wav` }, options: { language: 1 } }),
  });
  const body = (await answer.body.json()) as { job: JobSnapshot };
  expect(answer.statusCode).toBe(201);
  return body.job;
}

describe('a client resumes across a restart of a real server with exactly what it missed (issue #12)', () => {
  for (const stop of ['SIGTERM', 'SIGKILL'] as const) {
    it(`after ${stop === 'SIGTERM' ? 'a clean stop' : 'kill -9'}: no snapshot, the same changes as a client that stayed until the end`, async () => {
      fleet ??= await startSimulatorFleet({ speed: 10, seed: 12_000, only: ['cambai'] });
      const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-restart-resume-'));
      dirs.push(dataDir);
      const env: Record<string, string> = {
        JOBSTREAM_TOKEN: TOKEN,
        MUSICAI_API_KEY: '',
        KLANGIO_API_KEY: '',
        SUNOAPI_API_KEY: '',
        [`${PROVIDERS.cambai.envPrefix}_API_KEY`]: fleet.simulators.cambai.apiKey,
        [`${PROVIDERS.cambai.envPrefix}_BASE_URL`]: fleet.baseUrl('cambai'),
      };
      const start = async () => {
        const serve = TestProcess.cli(['serve', '--port', '0', '--data', dataDir], env);
        return { serve, url: await serve.waitForListening(20_000) };
      };

      const first = await start();
      const leaver = new Subscriber();
      const stayer = new Subscriber();
      await leaver.connect(first.url);
      await stayer.connect(first.url);
      const jobs: string[] = [];
      for (let n = 0; n < 6; n++) jobs.push((await submit(first.url, n)).id);
      // One client leaves part-way; the other stays until the server goes away.
      await leaver.until(() => leaver.seen.length >= 4, 'four changes');
      await leaver.leave();
      const left = leaver.seq;
      await stayer.until(() => stayer.seq >= left + 3, 'three changes after the first client left');
      if (stop === 'SIGTERM') expect(await first.serve.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      else {
        first.serve.child.kill('SIGKILL');
        expect((await first.serve.exited).signal).toBe('SIGKILL');
      }
      await stayer.until(() => true, 'nothing');

      const second = await start();
      for (let n = 6; n < 9; n++) jobs.push((await submit(second.url, n)).id);
      await leaver.connect(second.url);
      await stayer.connect(second.url);
      // Neither got a snapshot on resuming: the restarted server still had every change each missed.
      expect(leaver.answers).toEqual(['snapshot:subscribe', 'resumed']);
      expect(stayer.answers).toEqual(['snapshot:subscribe', 'resumed']);
      const settled = (s: Subscriber) => jobs.every((id) => s.latest.get(id) !== undefined && isSettled(s.latest.get(id)!));
      await leaver.until(() => settled(leaver), 'every job settled (the client that left)', 60_000);
      await stayer.until(() => settled(stayer) && stayer.seq === leaver.seq, 'every job settled (the client that stayed)', 60_000);

      expect(leaver.problems).toEqual([]);
      expect(stayer.problems).toEqual([]);
      expect(leaver.seen.length).toBeGreaterThan(0);
      // Exactly the same changes, in the same order, whether the client left before the
      // restart, stayed until the server went away, or (both) came back after it.
      expect(leaver.seen).toEqual(stayer.seen);
      const seqs = stayer.seen.map(([seq]) => seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      await leaver.leave();
      await stayer.leave();
      await second.serve.stop('SIGTERM');
    }, 120_000);
  }
});
