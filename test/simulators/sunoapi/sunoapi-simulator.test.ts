import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SunoMidiRecord, SunoSeparationCallback, SunoSeparationRecord } from '../../../src/providers/sunoapi/sunoapi-schemas.js';
import { startSunoapiSimulator } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import type { SunoapiSimulator, SunoapiSimulatorOptions } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import { parseWav } from '../kit/media-parsers.js';
import { startWebhookReceiver } from '../kit/webhook-receiver.js';
import type { WebhookReceiver } from '../kit/webhook-receiver.js';
import { generateMidi, separate, sunoClient } from './sunoapi-test-client.js';

let sim: SunoapiSimulator | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

async function start(options: SunoapiSimulatorOptions = {}) {
  receiver = await startWebhookReceiver();
  sim = await startSunoapiSimulator({ speed: 100, seed: 5, ...options });
  return { sim, receiver, client: sunoClient(sim) };
}

const SPLIT_FIELDS = ['backingVocalsUrl', 'drumsUrl', 'bassUrl', 'guitarUrl', 'keyboardUrl', 'percussionUrl', 'stringsUrl', 'synthUrl', 'fxUrl', 'brassUrl', 'woodwindsUrl'];

describe('sunoapi simulator: auth and envelopes', () => {
  it('answers HTTP 401 with body code 401 without a valid Bearer key', async () => {
    const { sim } = await start();
    for (const auth of [null, 'Bearer wrong', sim.apiKey]) {
      const client = sunoClient(sim, auth);
      const answers = [
        await client.post('/api/v1/vocal-removal/generate', { taskId: 't', audioId: 'a', callBackUrl: 'http://127.0.0.1:1/cb' }),
        await client.post('/api/v1/midi/generate', { taskId: 't', callBackUrl: 'http://127.0.0.1:1/cb' }),
        await client.separationRecord('t'),
        await client.midiRecord('t'),
      ];
      for (const a of answers) {
        expect(a.http).toBe(401);
        expect(a.body).toMatchObject({ code: 401, data: null });
        expect(typeof a.body.msg).toBe('string');
      }
    }
  });

  it('refuses bad parameters with HTTP 200 and body code 400', async () => {
    const { client, receiver } = await start();
    const cb = receiver.url;
    const bad = [
      { audioId: 'a', callBackUrl: cb },
      { taskId: 't', callBackUrl: cb },
      { taskId: 't', audioId: 'a' },
      { taskId: '', audioId: 'a', callBackUrl: cb },
      { taskId: 't', audioId: 'a', type: 'karaoke', callBackUrl: cb },
      { taskId: 't', audioId: 'a', callBackUrl: 'https://example.com/cb' },
      { taskId: 't', audioId: 'a', callBackUrl: 'nonsense' },
      'not json',
    ];
    for (const body of bad) {
      const a = await client.post('/api/v1/vocal-removal/generate', body);
      expect(a.http).toBe(200);
      expect(a.body.code).toBe(400);
      expect(a.body.msg.length).toBeGreaterThan(0);
    }
  });

  it('answers body code 404 for unknown tasks and HTTP 404 for unknown paths', async () => {
    const { client, sim } = await start();
    expect((await client.separationRecord('missing')).body.code).toBe(404);
    expect((await client.midiRecord('missing')).body.code).toBe(404);
    expect((await client.get('/api/v1/vocal-removal/record-info')).body.code).toBe(404);
    const path = await client.get('/api/v1/nothing');
    expect(path.http).toBe(404);
    expect(path.body.code).toBe(404);
    expect(sim.outcome('missing')).toBeUndefined();
  });
});

describe('sunoapi simulator: vocal separation', () => {
  it('runs separate_vocal from PENDING to SUCCESS with servable URLs and a callback', async () => {
    // Speed 10: PENDING lasts 100-300 ms, so the first record is read before it ends even on a busy machine.
    const { client, receiver, sim } = await start({ speed: 10 });
    const { taskId, records, final } = await separate(client, `${receiver.url}/sep`);
    expect(records[0]).toMatchObject({ successFlag: 'PENDING', response: null, completeTime: null });
    const record = SunoSeparationRecord.parse(final);
    expect(record).toMatchObject({ taskId, successFlag: 'SUCCESS', audioId: 'audio-1', callbackUrl: `${receiver.url}/sep`, errorCode: null });
    expect(record.completeTime).toBeGreaterThanOrEqual(record.createTime);
    const response = record.response!;
    for (const field of ['originUrl', 'instrumentalUrl', 'vocalUrl'] as const) {
      const url = response[field]!;
      expect(url.startsWith(`${sim.url}/files/`)).toBe(true);
      const res = await fetch(url);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      expect(parseWav(Buffer.from(await res.arrayBuffer())).frames).toBeGreaterThan(0);
    }
    for (const field of SPLIT_FIELDS) expect(response[field]).toBeNull();
    expect(response.originData?.map((d) => d.stem_type_group_name).sort()).toEqual(['Instrumental', 'Vocals']);

    const [cb] = await receiver.waitFor((r) => r.length === 1);
    const callback = SunoSeparationCallback.parse(cb!.body);
    expect(callback).toMatchObject({ code: 200, data: { task_id: taskId } });
    expect(Object.keys(callback.data.vocal_removal_info!).sort()).toEqual(['instrumental_url', 'origin_url', 'vocal_url']);
    expect(callback.data.vocal_removal_info!['vocal_url']).toBe(response.vocalUrl);
    expect(sim.outcome(taskId)).toBe('succeeded');
  });

  it('fills the split_stem fields and leaves instrumentalUrl null', async () => {
    const { client, receiver } = await start();
    const { final } = await separate(client, receiver.url, 'split_stem');
    const record = SunoSeparationRecord.parse(final);
    expect(record.response!.instrumentalUrl).toBeNull();
    for (const field of ['originUrl', 'vocalUrl', ...SPLIT_FIELDS]) expect(typeof record.response![field]).toBe('string');
    const [cb] = await receiver.waitFor((r) => r.length === 1);
    const info = SunoSeparationCallback.parse(cb!.body).data.vocal_removal_info!;
    expect(info).toHaveProperty('backing_vocals_url');
    expect(info).toHaveProperty('woodwinds_url');
    expect(info).not.toHaveProperty('instrumental_url');
  });

  it('sends the stems under data.vocal_separation_info, as kie.ai does, with callbackShape kie', async () => {
    const { client, receiver } = await start({ callbackShape: 'kie' });
    const { taskId, final } = await separate(client, receiver.url);
    const record = SunoSeparationRecord.parse(final);
    const [cb] = await receiver.waitFor((r) => r.length === 1);
    const body = cb!.body as { code: number; data: Record<string, Record<string, string> | string> };
    expect(body).toMatchObject({ code: 200, data: { task_id: taskId } });
    expect(body.data).not.toHaveProperty('vocal_removal_info');
    expect(body.data['vocal_separation_info']).toEqual({ origin_url: record.response!.originUrl, instrumental_url: record.response!.instrumentalUrl, vocal_url: record.response!.vocalUrl });
  });

  it('signs every callback attempt as kie.ai does when given a webhookKey, with the timestamp of that attempt', async () => {
    let clockMs = Date.parse('2025-06-01T10:00:00.000Z');
    const { client, receiver } = await start({ speed: 6000, webhookKey: 'kie-hmac-key', now: () => clockMs });
    // Each refused attempt moves the clock a minute on: every retry is signed anew.
    receiver.respond = (_r, i) => {
      clockMs += 60_000;
      return i < 1 ? 503 : 200;
    };
    const { taskId } = await separate(client, receiver.url);
    const received = await receiver.waitFor((r) => r.length === 2);
    const stamps = received.map((r) => r.headers['x-webhook-timestamp']);
    expect(stamps).toEqual([String(Date.parse('2025-06-01T10:00:00.000Z') / 1000), String(Date.parse('2025-06-01T10:01:00.000Z') / 1000)]);
    for (const r of received) {
      const expected = createHmac('sha256', 'kie-hmac-key').update(`${taskId}.${String(r.headers['x-webhook-timestamp'])}`).digest('base64');
      expect(r.headers['x-webhook-signature']).toBe(expected);
    }
  });

  it('sends callbacks unsigned without a webhookKey, as sunoapi.org does', async () => {
    const { client, receiver } = await start();
    await separate(client, receiver.url);
    const [cb] = await receiver.waitFor((r) => r.length === 1);
    expect(cb!.headers).not.toHaveProperty('x-webhook-timestamp');
    expect(cb!.headers).not.toHaveProperty('x-webhook-signature');
  });

  it('ends failed separations with a failure flag, error fields and a code-500 callback', async () => {
    const { client, receiver, sim } = await start({ faults: { jobFailureRate: 1 } });
    const { taskId, final } = await separate(client, receiver.url);
    const record = SunoSeparationRecord.parse(final);
    expect(['CREATE_TASK_FAILED', 'GENERATE_AUDIO_FAILED']).toContain(record.successFlag);
    expect(record.response).toBeNull();
    expect(record.errorCode).toBe(500);
    expect(typeof record.errorMessage).toBe('string');
    expect(sim.outcome(taskId)).toBe('failed');
    const [cb] = await receiver.waitFor((r) => r.length === 1);
    expect(cb!.body).toEqual({ code: 500, msg: expect.any(String), data: { task_id: taskId, vocal_removal_info: null } });
    expect((await fetch(`${sim.url}/files/${taskId}/vocal.wav`)).status).toBe(404);
  });

  it('reports CALLBACK_EXCEPTION after every callback attempt failed (1 + 3 retries)', async () => {
    // The documented schedule (1, 5, 15 minutes) at speed 6000: 10, 50 and 150 ms.
    const { client, receiver, sim } = await start({ speed: 6000 });
    receiver.respond = () => 500;
    const { taskId } = await separate(client, receiver.url);
    await receiver.waitFor((r) => r.length === 4);
    await sim.webhooks.idle();
    expect(receiver.received).toHaveLength(4);
    expect((await client.separationRecord(taskId)).body.data.successFlag).toBe('CALLBACK_EXCEPTION');
    expect(sim.status(taskId)).toBe('CALLBACK_EXCEPTION');
  });
});

describe('sunoapi simulator: MIDI generation', () => {
  it('refuses MIDI for unknown, pending or failed separations and foreign audioIds', async () => {
    const { client, receiver, sim } = await start({ speed: 1 });
    const cb = receiver.url;
    const unknown = await client.post('/api/v1/midi/generate', { taskId: 'nope', callBackUrl: cb });
    expect(unknown.body.code).toBe(400);
    const pending = await client.post('/api/v1/vocal-removal/generate', { taskId: 't', audioId: 'a', callBackUrl: cb });
    const early = await client.post('/api/v1/midi/generate', { taskId: pending.body.data.taskId, callBackUrl: cb });
    expect(early.body.code).toBe(400);
    expect(early.body.msg).toContain('PENDING');
    expect((await client.post('/api/v1/midi/generate', { taskId: pending.body.data.taskId })).body.code).toBe(400);
    await sim.close();
    await receiver.close();

    const fast = await start({ faults: { jobFailureRate: 1 } });
    const failed = await separate(fast.client, fast.receiver.url);
    expect((await fast.client.post('/api/v1/midi/generate', { taskId: failed.taskId, callBackUrl: cb })).body.code).toBe(400);
    fast.sim.setFaults({ jobFailureRate: 0 });
    const ok = await separate(fast.client, fast.receiver.url);
    const foreign = await fast.client.post('/api/v1/midi/generate', { taskId: ok.taskId, audioId: 'not-a-track', callBackUrl: cb });
    expect(foreign.body.code).toBe(400);
  });

  it('runs MIDI from successFlag 0 to 1 with record-info and callback per the contract', async () => {
    const { client, receiver, sim } = await start({ emptyMidiRate: 0 });
    const sep = await separate(client, `${receiver.url}/sep`);
    const vocals = (sep.final as { response: { originData: { id: string; stem_type_group_name: string }[] } }).response.originData.find(
      (d) => d.stem_type_group_name === 'Vocals',
    )!;
    const { taskId, records, final } = await generateMidi(client, sep.taskId, `${receiver.url}/midi`, vocals.id);
    expect(records[0]).toMatchObject({ successFlag: 0, midiData: null, completeTime: null });
    const record = SunoMidiRecord.parse(final);
    expect(record).toMatchObject({ taskId, successFlag: 1, recordTaskId: -1, audioId: vocals.id, callbackUrl: `${receiver.url}/midi`, errorCode: null });
    expect(record.createTime).toBeGreaterThan(1_600_000_000_000);
    expect(record.completeTime).toBeGreaterThanOrEqual(record.createTime);
    expect(final).toHaveProperty('callbackUrl');
    expect(final).not.toHaveProperty('callBackUrl');
    expect(record.midiData!.state).toBe('complete');
    const instruments = record.midiData!.instruments!;
    expect(instruments.length).toBeGreaterThan(0);
    const notes = instruments.flatMap((i) => i.notes);
    expect(notes.every((n) => typeof n.start === 'number' && typeof n.end === 'number' && n.end > n.start)).toBe(true);
    expect(notes.every((n) => n.velocity >= 0 && n.velocity <= 1)).toBe(true);
    expect(notes.some((n) => n.velocity < 1 && n.velocity > 0.4)).toBe(true);

    const cbs = await receiver.waitFor((r) => r.some((x) => x.path === '/midi'));
    const midiCb = cbs.find((x) => x.path === '/midi')!.body as {
      code: number;
      task_id: string;
      data: { state: string; instruments: { name: string; notes: { start: unknown; end: unknown; pitch: number }[] }[] };
    };
    expect(midiCb).toMatchObject({ code: 200, task_id: taskId, data: { state: 'complete' } });
    const cbNotes = midiCb.data.instruments.flatMap((i) => i.notes);
    const times = cbNotes.flatMap((n) => [n.start, n.end]);
    expect(times.some((t) => typeof t === 'string')).toBe(true);
    expect(times.some((t) => typeof t === 'number')).toBe(true);
    expect(cbNotes.map((n) => [n.pitch, Number(n.start), Number(n.end)])).toEqual(notes.map((n) => [n.pitch, n.start, n.end]));
    expect(sim.outcome(taskId)).toBe('succeeded');
    expect(sim.status(taskId)).toBe(1);
  });

  it('fails MIDI with successFlag 2 or 3 and a code-500 callback carrying task_id twice', async () => {
    const { client, receiver, sim } = await start();
    const sep = await separate(client, `${receiver.url}/sep`);
    sim.setFaults({ jobFailureRate: 1 });
    const { taskId, final } = await generateMidi(client, sep.taskId, `${receiver.url}/midi`);
    const record = SunoMidiRecord.parse(final);
    expect([2, 3]).toContain(record.successFlag);
    expect(record.midiData).toBeNull();
    expect(record.errorMessage).toEqual(expect.any(String));
    const cbs = await receiver.waitFor((r) => r.some((x) => x.path === '/midi'));
    expect(cbs.find((x) => x.path === '/midi')!.body).toEqual({ code: 500, msg: expect.any(String), task_id: taskId, data: { task_id: taskId, state: 'failed' } });
    expect(sim.outcome(taskId)).toBe('failed');
  });

  it.each([
    ['split_stem', 12],
    ['separate_vocal', 30],
  ])('sometimes detects no instruments for %s sources by default (seeded)', async (type, runs) => {
    const { client, receiver } = await start();
    const sep = await separate(client, receiver.url, type);
    const empty: unknown[] = [];
    let full = 0;
    for (let i = 0; i < runs; i++) {
      const midiData = SunoMidiRecord.parse((await generateMidi(client, sep.taskId, receiver.url)).final).midiData!;
      if ((midiData.instruments ?? []).length === 0) empty.push(midiData);
      else full += 1;
    }
    expect(empty.length).toBeGreaterThan(0);
    expect(full).toBeGreaterThan(0);
    // An empty split_stem result is an empty midiData, as the docs warn; a separate_vocal one lists no instruments.
    for (const midiData of empty) expect(midiData).toEqual(type === 'split_stem' ? {} : { state: 'complete', instruments: [] });
  });

  it('finds no notes in every MIDI task with emptyMidiRate 1, in the record and the callback, and in none with 0', async () => {
    const { client, receiver, sim } = await start({ emptyMidiRate: 1 });
    for (const type of ['separate_vocal', 'split_stem']) {
      const sep = await separate(client, `${receiver.url}/sep`, type);
      const { taskId, final } = await generateMidi(client, sep.taskId, `${receiver.url}/midi-${type}`);
      const record = SunoMidiRecord.parse(final);
      expect(record.successFlag).toBe(1);
      expect(record.midiData).toEqual(type === 'split_stem' ? {} : { state: 'complete', instruments: [] });
      const [cb] = (await receiver.waitFor((r) => r.some((x) => x.path === `/midi-${type}`))).filter((x) => x.path === `/midi-${type}`);
      expect(cb!.body).toEqual({
        code: 200,
        msg: 'success',
        task_id: taskId,
        data: type === 'split_stem' ? { state: 'complete' } : { state: 'complete', instruments: [] },
      });
      expect(sim.outcome(taskId)).toBe('succeeded');
    }
    await sim.close();
    await receiver.close();
    const none = await start({ emptyMidiRate: 0 });
    const sep = await separate(none.client, none.receiver.url, 'split_stem');
    for (let i = 0; i < 12; i++) {
      expect(SunoMidiRecord.parse((await generateMidi(none.client, sep.taskId, none.receiver.url)).final).midiData!.instruments!.length).toBeGreaterThan(0);
    }
  });

  it('refuses an emptyMidiRate outside 0..1 and an empty webhookKey', async () => {
    await expect(startSunoapiSimulator({ emptyMidiRate: 1.5 })).rejects.toThrow(RangeError);
    await expect(startSunoapiSimulator({ emptyMidiRate: Number.NaN })).rejects.toThrow('emptyMidiRate must be a number from 0 to 1');
    await expect(startSunoapiSimulator({ webhookKey: '' })).rejects.toThrow(RangeError);
  });
});
