import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRandom } from '../../../src/simulators/kit/seeded-random.js';
import type { SimulatorOptions, SimulatorSpec } from '../../../src/simulators/kit/simulator.js';
import { resolveSimulatorOptions, startSimulatorServer } from '../../../src/simulators/kit/simulator.js';
import { SimulatorStateError, simulatorStateSchema } from '../../../src/simulators/kit/state-file.js';

describe('resolveSimulatorOptions', () => {
  it('defaults to loopback, port 0, speed 1, a random hex key and no faults', () => {
    const a = resolveSimulatorOptions();
    const b = resolveSimulatorOptions();
    expect(a).toMatchObject({ host: '127.0.0.1', port: 0, speed: 1, allowRemoteWebhooks: false });
    expect(a.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(a.apiKey).not.toBe(b.apiKey);
    expect(a.faults().serverErrorRate).toBe(0);
  });

  it('seeds the random source and merges fault patches at run time', () => {
    const a = resolveSimulatorOptions({ seed: 4, faults: { webhook: { dropRate: 0.5 } } });
    const b = resolveSimulatorOptions({ seed: 4 });
    expect(a.random()).toBe(b.random());
    expect(a.faults().webhook.dropRate).toBe(0.5);
    a.setFaults({ serverErrorRate: 0.3 });
    expect(a.faults()).toMatchObject({ serverErrorRate: 0.3, webhook: { dropRate: 0.5 } });
    expect(() => a.setFaults({ serverErrorRate: 3 })).toThrow();
  });

  it('refuses a non-positive speed and a non-loopback host', () => {
    expect(() => resolveSimulatorOptions({ speed: 0 })).toThrow(RangeError);
    expect(() => resolveSimulatorOptions({ speed: Number.NaN })).toThrow(RangeError);
    expect(() => resolveSimulatorOptions({ host: '0.0.0.0' })).toThrow(RangeError);
    expect(resolveSimulatorOptions({ host: 'localhost' }).host).toBe('localhost');
  });
});

const DemoState = simulatorStateSchema('demo', { jobs: z.array(z.string()) });

/** A one-route simulator built on the skeleton; `log` records the model's calls in order. */
function startDemo(options: SimulatorOptions, log: string[], over: Partial<SimulatorSpec<z.output<typeof DemoState>, z.input<typeof DemoState>, { jobs: () => string[] }>> = {}) {
  return startSimulatorServer(options, {
    provider: 'demo',
    api: {
      path: '/api/*',
      keyHeader: 'x-key',
      unauthorized: (c, reason) => c.json({ reason }, 401),
      rateLimited: (c, seconds) => c.json({ limited: true }, 429, { 'Retry-After': String(seconds) }),
      serverError: (c, status) => c.json({ failed: true }, status),
    },
    randomStreams: ['faults'],
    webhooks: { timeoutMs: 100, retryDelaysMs: [10] },
    state: DemoState,
    create: (kit) => {
      const jobs = [...(kit.saved?.jobs ?? [])];
      return {
        routes: (app: Hono) => {
          app.post('/api/jobs', (c) => {
            const id = `j${Math.floor(kit.random() * 1000)}`;
            jobs.push(id);
            kit.timers.schedule(() => log.push(`fired ${id}`), 60_000);
            return c.json({ id, url: kit.url() });
          });
          app.get('/open', (c) => c.text('open'));
        },
        outcome: (id) => (jobs.includes(id) ? 'succeeded' : undefined),
        resume: () => log.push(`resume ${jobs.join(',')}`),
        save: () => {
          log.push('save');
          return { format: 1 as const, provider: 'demo' as const, jobs };
        },
        handle: () => ({ jobs: () => [...jobs] }),
      };
    },
    ...over,
  });
}

describe('startSimulatorServer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'simulator-server-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('guards the API path with the key and the faults, and leaves other routes open', async () => {
    const sim = await startDemo({ apiKey: 'k', seed: 1 }, []);
    try {
      expect(sim).toMatchObject({ provider: 'demo', apiKey: 'k' });
      expect((await fetch(`${sim.url}/api/jobs`, { method: 'POST' })).status).toBe(401);
      const created = await fetch(`${sim.url}/api/jobs`, { method: 'POST', headers: { 'x-key': 'k' } });
      const { id, url } = (await created.json()) as { id: string; url: string };
      expect(url).toBe(sim.url);
      expect(sim.outcome(id)).toBe('succeeded');
      expect(sim.jobs()).toEqual([id]);
      sim.setFaults({ serverErrorRate: 1 });
      expect((await fetch(`${sim.url}/api/jobs`, { method: 'POST', headers: { 'x-key': 'k' } })).status).toBeGreaterThanOrEqual(500);
      expect((await fetch(`${sim.url}/open`)).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('gives the model the seed\'s own stream when only the fault stream is forked', async () => {
    const sim = await startDemo({ apiKey: 'k', seed: 9 }, []);
    try {
      const res = await fetch(`${sim.url}/api/jobs`, { method: 'POST', headers: { 'x-key': 'k' } });
      const expected = createRandom(9);
      expected(); // the fault stream's fork
      expect(((await res.json()) as { id: string }).id).toBe(`j${Math.floor(expected() * 1000)}`);
    } finally {
      await sim.close();
    }
  });

  it('closes once: timers cleared, server closed, then the state written; resumes it on the next start', async () => {
    const stateFile = join(dir, 'demo.json');
    const log: string[] = [];
    const sim = await startDemo({ apiKey: 'k', stateFile }, log);
    await fetch(`${sim.url}/api/jobs`, { method: 'POST', headers: { 'x-key': 'k' } });
    const [first, second] = [sim.close(), sim.close()];
    expect(second).toBe(first);
    await first;
    await expect(fetch(`${sim.url}/open`)).rejects.toThrow();
    expect(log).toEqual(['save']);
    const saved = DemoState.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    expect(saved.jobs).toHaveLength(1);

    const again = await startDemo({ apiKey: 'k', stateFile }, log);
    await again.close();
    expect(log).toEqual(['save', `resume ${saved.jobs.join(',')}`, 'save']);
  });

  it('fails the start on a damaged state file before anything listens', async () => {
    const stateFile = join(dir, 'demo.json');
    await writeFile(stateFile, '{"format":1,"provider":"other","jobs":[]}');
    await expect(startDemo({ stateFile }, [])).rejects.toBeInstanceOf(SimulatorStateError);
  });

  it('closes the server again and keeps the state file when resuming fails', async () => {
    const stateFile = join(dir, 'demo.json');
    const contents = '{"format":1,"provider":"demo","jobs":["j1"]}';
    await writeFile(stateFile, contents);
    let url = '';
    const failing = startDemo({ stateFile }, [], {
      create: (kit) => ({
        routes: () => undefined,
        outcome: () => undefined,
        resume: () => {
          url = kit.url();
          throw new Error('cannot resume');
        },
        save: () => ({ format: 1, provider: 'demo', jobs: [] }),
        handle: () => ({ jobs: () => [] }),
      }),
    });
    await expect(failing).rejects.toThrow('cannot resume');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await expect(fetch(url)).rejects.toThrow();
    expect(await readFile(stateFile, 'utf8')).toBe(contents);
  });

  it('builds one webhook sender, and refuses one when the provider declared none', async () => {
    let same = false;
    const sim = await startDemo({}, [], {
      create: (kit) => {
        same = kit.webhooks() === kit.webhooks();
        return { routes: () => undefined, outcome: () => undefined, save: () => ({ format: 1, provider: 'demo', jobs: [] }), handle: () => ({ jobs: () => [] }) };
      },
    });
    await sim.close();
    expect(same).toBe(true);
    const refused = startSimulatorServer({}, {
      provider: 'quiet',
      api: {
        path: '*',
        keyHeader: 'x-key',
        unauthorized: (c) => c.text('no', 401),
        rateLimited: (c) => c.text('slow', 429),
        serverError: (c, status) => c.text('err', status),
      },
      randomStreams: [],
      state: DemoState,
      create: (kit) => {
        kit.webhooks();
        return { routes: () => undefined, outcome: () => undefined, save: () => ({ format: 1 as const, provider: 'demo' as const, jobs: [] }), handle: () => ({}) };
      },
    });
    await expect(refused).rejects.toThrow(/declares no webhooks/);
  });
});
