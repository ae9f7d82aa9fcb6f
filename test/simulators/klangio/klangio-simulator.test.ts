import { afterEach, describe, expect, it } from 'vitest';
import {
  KlangioBeatResult,
  KlangioChordExtendedResult,
  KlangioChordResult,
  KlangioCreateResponse,
  KlangioStrumResult,
} from '../../../src/providers/klangio/klangio-schemas.js';
import { startKlangioSimulator } from '../../../src/simulators/klangio/klangio-simulator.js';
import type { KlangioSimulator, KlangioSimulatorOptions } from '../../../src/simulators/klangio/klangio-simulator.js';
import { checkPdf, parseMidi, parseWav } from '../kit/media-parsers.js';
import { klangioClient } from './klangio-test-client.js';

let sim: KlangioSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** Flags that follow the request unless a test asks for drift (see 'Klangio simulator: gen_* flags'). */
async function start(options: KlangioSimulatorOptions = {}) {
  sim = await startKlangioSimulator({ speed: 100, seed: 42, outputFlagDriftRate: 0, ...options });
  return { sim, client: klangioClient(sim) };
}

const collapse = (xs: string[]): string[] => xs.filter((x, i) => x !== xs[i - 1]);

describe('Klangio simulator: auth and validation', () => {
  it('answers 401 {detail} to a missing or wrong kl-api-key on every endpoint', async () => {
    const { sim, client } = await start();
    const created = await client.create('/transcription', { model: 'universal' }, ['mxml']);
    const jobId = String(created.body['job_id']);
    for (const bad of [klangioClient(sim, 'wrong'), klangioClient(sim, '')]) {
      const c = await bad.create('/transcription', { model: 'universal' }, ['mxml']);
      expect(c.status).toBe(401);
      expect(typeof c.body['detail']).toBe('string');
      expect((await bad.status(jobId)).status).toBe(401);
      expect((await bad.result(jobId, 'xml')).status).toBe(401);
    }
    const bearer = await fetch(`${sim.url}/job/${jobId}/status`, { headers: { authorization: `Bearer ${sim.apiKey}` } });
    expect(bearer.status).toBe(401);
  });

  it('answers 422 {detail} for missing or invalid required inputs', async () => {
    const { client } = await start();
    const cases = [
      client.create('/transcription', {}, ['mxml']),
      client.create('/transcription', { model: 'kazoo' }, ['mxml']),
      client.create('/transcription', { model: 'universal' }, ['mxml'], null),
      client.create('/transcription', { model: 'universal' }, ['mxml'], new Blob([])),
      client.create('/transcription', { model: 'universal' }, ['wav']),
      client.create('/chord-recognition', {}),
      client.create('/chord-recognition', { vocabulary: 'jazz' }),
      client.create('/chord-recognition-extended', {}),
      client.create('/source-separation', {}),
      client.create('/source-separation', { model: 'four-stems', format: 'flac' }),
      client.create('/beat-tracking', {}, [], null),
      client.create('/strum-recognition', { webhook_url: 'https://example.com/hook' }),
      client.create('/strum-recognition', { webhook_url: 'not-a-url' }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status).toBe(422);
      expect(typeof res.body['detail']).toBe('string');
    }
    const missing = await client.create('/transcription', {}, ['mxml']);
    expect(missing.body['detail']).toContain('model');
  });

  it('answers 404 for unknown jobs and paths', async () => {
    const { sim, client } = await start();
    expect((await client.status('nope')).status).toBe(404);
    expect((await client.result('nope', 'xml')).status).toBe(404);
    const res = await fetch(`${sim.url}/nothing-here`, { headers: { 'kl-api-key': sim.apiKey } });
    expect(res.status).toBe(404);
    expect(sim.outcome('nope')).toBeUndefined();
  });
});

describe('Klangio simulator: jobs', () => {
  it('creates a transcription with dates, an absolute status URL and gen_* flags', async () => {
    const { sim, client } = await start();
    const res = await client.create('/transcription', { model: 'guitar', title: 'T', composer: 'C' }, ['mxml', 'midi_quant', 'pdf']);
    expect(res.status).toBe(200);
    const body = KlangioCreateResponse.parse(res.body);
    expect(body.creation_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const days = (Date.parse(body.deletion_date) - Date.parse(body.creation_date)) / 86_400_000;
    expect(days).toBe(14);
    expect(body.status_endpoint_url).toBe(`${sim.url}/job/${body.job_id}/status`);
    expect(body).toMatchObject({ gen_xml: true, gen_midi: false, gen_midi_quant: true, gen_gp5: false, gen_pdf: true });
    const viaUrl = await fetch(body.status_endpoint_url, { headers: { 'kl-api-key': sim.apiKey } });
    expect(((await viaUrl.json()) as { status: string }).status).toMatch(/^IN_/);
  });

  it('serves the quantized MIDI under midi_quant by default, or under midi_unq when configured (the docs name both)', async () => {
    for (const [path, other] of [['midi_quant', 'midi_unq'], ['midi_unq', 'midi_quant']] as const) {
      const { sim: running, client } = await start({ speed: 200, ...(path === 'midi_unq' ? { quantizedMidiPath: path } : {}) });
      const jobId = String((await client.create('/transcription', { model: 'piano' }, ['midi_quant'])).body['job_id']);
      await client.waitTerminal(jobId);
      const served = await client.result(jobId, path);
      expect(served.status).toBe(200);
      expect(parseMidi(served.bytes).events.length).toBeGreaterThan(0);
      expect((await client.result(jobId, other)).status).toBe(404);
      await running.close();
    }
  });

  it('accepts the detect model and the json output, and serves the transcription as MusicInfo and Parts › Measures › Voices › Notes', async () => {
    const { client } = await start({ speed: 200 });
    const res = await client.create('/transcription', { model: 'detect' }, ['json']);
    expect(res.status).toBe(200);
    const jobId = String(res.body['job_id']);
    await client.waitTerminal(jobId);
    const json = await client.result(jobId, 'json');
    expect(json.status).toBe(200);
    expect(json.contentType).toMatch(/^application\/json/);
    const doc = JSON.parse(json.bytes.toString('utf8')) as { MusicInfo: object; Parts: { Measures: { Voices: { Notes: { Pitch: number }[] }[] }[] }[] };
    expect(doc.MusicInfo).toMatchObject({ Model: 'detect' });
    const notes = doc.Parts.flatMap((p) => p.Measures.flatMap((m) => m.Voices.flatMap((v) => v.Notes)));
    expect(notes.length).toBeGreaterThan(0);
    expect((await client.result(jobId, 'midi')).status).toBe(404);
  });

  it('accepts outputs as one comma-separated field', async () => {
    const { client } = await start();
    const res = await client.create('/transcription', { model: 'universal' }, ['midi,gp5']);
    expect(res.body).toMatchObject({ gen_midi: true, gen_gp5: true, gen_xml: false });
  });

  it('moves IN_QUEUE → IN_PROGRESS → COMPLETED and agrees with outcome()', async () => {
    const { sim, client } = await start({ speed: 20 });
    const { body } = await client.create('/chord-recognition', { vocabulary: 'full' });
    const jobId = String(body['job_id']);
    const seen = collapse(await client.waitTerminal(jobId));
    expect(seen).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    expect(sim.outcome(jobId)).toBe('succeeded');
    expect(sim.status(jobId)).toBe('COMPLETED');
  });

  it('ends in FAILED with an error string when the failure knob says so', async () => {
    const { sim, client } = await start({ faults: { jobFailureRate: 1 } });
    const { body } = await client.create('/beat-tracking', {});
    const jobId = String(body['job_id']);
    expect(sim.outcome(jobId)).toBe('failed');
    expect((await client.waitTerminal(jobId)).at(-1)).toBe('FAILED');
    const status = await client.status(jobId);
    expect(status.body['status']).toBe('FAILED');
    expect(typeof status.body['error']).toBe('string');
    const result = await client.result(jobId, 'json');
    expect(result.status).toBe(409);
  });

  it('refuses results before completion (409) and formats the job does not have (404)', async () => {
    const { client } = await start({ speed: 1 });
    const { body } = await client.create('/transcription', { model: 'universal' }, ['midi']);
    const jobId = String(body['job_id']);
    const early = await client.result(jobId, 'midi');
    expect(early.status).toBe(409);
    expect(JSON.parse(early.bytes.toString('utf8'))).toHaveProperty('detail');
    for (const format of ['xml', 'pdf', 'json', 'audio', 'mp4']) expect((await client.result(jobId, format)).status).toBe(404);
  });

  it('makes the same ids and results for the same seed', async () => {
    const first = await start({ seed: 7 });
    const a = await first.client.create('/chord-recognition', { vocabulary: 'major-minor' });
    await first.client.waitTerminal(String(a.body['job_id']));
    const aJson = (await first.client.result(String(a.body['job_id']), 'json')).bytes.toString();
    await first.sim.close();
    const second = await start({ seed: 7 });
    const b = await second.client.create('/chord-recognition', { vocabulary: 'major-minor' });
    expect(b.body['job_id']).toBe(a.body['job_id']);
    await second.client.waitTerminal(String(b.body['job_id']));
    expect((await second.client.result(String(b.body['job_id']), 'json')).bytes.toString()).toBe(aJson);
  });
});

describe('Klangio simulator: results', () => {
  it('serves valid MusicXML, MIDI, quantised MIDI, PDF and a GP5 header', async () => {
    const { client } = await start();
    const { body } = await client.create('/transcription', { model: 'piano', title: 'Etude' }, ['mxml', 'midi', 'midi_quant', 'pdf', 'gp5']);
    const jobId = String(body['job_id']);
    await client.waitTerminal(jobId);

    const xml = await client.result(jobId, 'xml');
    expect(xml.status).toBe(200);
    const text = xml.bytes.toString('utf8');
    expect(text).toMatch(/^<\?xml [^>]*\?>\s*<!DOCTYPE score-partwise[^>]*>\s*<score-partwise version="4.0">/);
    expect(text).toContain('<work-title>Etude</work-title>');

    const midi = parseMidi((await client.result(jobId, 'midi')).bytes);
    expect(midi).toMatchObject({ format: 0, tracks: 1, endOfTrack: true, program: 0 });
    const ons = midi.events.filter((e) => e.on);
    expect(ons.length).toBeGreaterThan(3);
    const quant = parseMidi((await client.result(jobId, 'midi_quant')).bytes);
    const sixteenth = quant.division / 4;
    expect(quant.events.every((e) => e.tick % sixteenth === 0)).toBe(true);
    expect(quant.events.filter((e) => e.on)).toHaveLength(ons.length);
    expect(midi.events.some((e) => e.tick % sixteenth !== 0)).toBe(true);

    const pdf = await client.result(jobId, 'pdf');
    expect(pdf.contentType).toBe('application/pdf');
    expect(checkPdf(pdf.bytes).text).toContain('(Etude) Tj');

    const gp5 = (await client.result(jobId, 'gp5')).bytes;
    expect(gp5[0]).toBe(24);
    expect(gp5.subarray(1, 25).toString('latin1')).toBe('FICHIER GUITAR PRO v5.00');
    expect(gp5.readInt32LE(31)).toBe('Etude'.length + 1);
    expect(gp5.subarray(36, 41).toString('latin1')).toBe('Etude');
  });

  it('serves chord results that follow the vocabulary', async () => {
    const { client } = await start();
    const mm = await client.create('/chord-recognition', { vocabulary: 'major-minor' });
    const full = await client.create('/chord-recognition', { vocabulary: 'full' });
    for (const r of [mm, full]) await client.waitTerminal(String(r.body['job_id']));
    const mmChords = KlangioChordResult.parse(JSON.parse((await client.result(String(mm.body['job_id']), 'json')).bytes.toString()));
    expect(mmChords.every(([, , chord]) => /^(N|[A-G]#?:(maj|min))$/.test(chord))).toBe(true);
    expect(mmChords.every(([start, end]) => end > start)).toBe(true);
    expect(mmChords.slice(1).every(([start], i) => start === mmChords[i]![1])).toBe(true);
    const fullChords = KlangioChordResult.parse(JSON.parse((await client.result(String(full.body['job_id']), 'json')).bytes.toString()));
    expect(fullChords.some(([, , chord]) => !/^(N|[A-G]#?:(maj|min))$/.test(chord))).toBe(true);
  });

  it('serves extended chords, beats and strums in their documented shapes', async () => {
    const { client } = await start();
    const ext = await client.create('/chord-recognition-extended', { vocabulary: 'major-minor' });
    const beat = await client.create('/beat-tracking', {});
    const strum = await client.create('/strum-recognition', {});
    for (const r of [ext, beat, strum]) await client.waitTerminal(String(r.body['job_id']));
    const json = async (r: { body: Record<string, unknown> }): Promise<unknown> =>
      JSON.parse((await client.result(String(r.body['job_id']), 'json')).bytes.toString());
    const extended = KlangioChordExtendedResult.parse(await json(ext));
    expect(extended.strums.length).toBeGreaterThan(0);
    const beats = KlangioBeatResult.parse(await json(beat));
    const perBar = Math.max(...beats.map(([, b]) => b));
    expect([3, 4]).toContain(perBar);
    expect(beats[0]![1]).toBe(1);
    expect(beats.slice(1).every(([t, b], i) => t > beats[i]![0] && (b === 1 ? beats[i]![1] === perBar : b === beats[i]![1] + 1))).toBe(true);
    const strums = KlangioStrumResult.parse(await json(strum));
    expect(strums.strums.length).toBeGreaterThan(0);
  });

  it('serves MP3 stems (real MPEG frames) for output=mp3, and WAV for format=mp3 unless separationFormatParam is format', async () => {
    const isMp3 = (bytes: Buffer): boolean => bytes.length >= 417 * 2 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0 && bytes[417] === 0xff && (bytes[418]! & 0xe0) === 0xe0;
    const { sim: first, client } = await start({ speed: 200 });
    const mp3 = String((await client.create('/source-separation', { model: 'four-stems', output: 'mp3' })).body['job_id']);
    const ignored = String((await client.create('/source-separation', { model: 'four-stems', format: 'mp3' })).body['job_id']);
    await client.waitTerminal(mp3);
    await client.waitTerminal(ignored);
    const stem = await client.result(mp3, 'audio', '?stem_type=vocals');
    expect(stem.status).toBe(200);
    expect(stem.contentType).toBe('audio/mpeg');
    expect(isMp3(stem.bytes)).toBe(true);
    expect((await client.result(ignored, 'audio', '?stem_type=vocals')).contentType).toBe('audio/wav');
    await first.close();
    const legacy = await start({ speed: 200, separationFormatParam: 'format' });
    const id = String((await legacy.client.create('/source-separation', { model: 'four-stems', format: 'mp3' })).body['job_id']);
    await legacy.client.waitTerminal(id);
    expect((await legacy.client.result(id, 'audio', '?stem_type=drums')).contentType).toBe('audio/mpeg');
  });

  it('serves WAV stems per separation model', async () => {
    const { client } = await start();
    const four = await client.create('/source-separation', { model: 'four-stems' });
    const six = await client.create('/source-separation', { model: 'six-stems', output: 'wav' });
    const fourId = String(four.body['job_id']);
    const sixId = String(six.body['job_id']);
    await client.waitTerminal(fourId);
    await client.waitTerminal(sixId);
    for (const stem of ['vocals', 'bass', 'drums', 'other']) {
      const res = await client.result(fourId, 'audio', `?stem_type=${stem}`);
      expect(res.status).toBe(200);
      expect(res.contentType).toBe('audio/wav');
      expect(parseWav(res.bytes)).toMatchObject({ format: 1, channels: 2, sampleRate: 44100, bitsPerSample: 16 });
    }
    expect((await client.result(fourId, 'audio', '?stem_type=piano')).status).toBe(404);
    expect((await client.result(fourId, 'audio')).status).toBe(422);
    expect((await client.result(fourId, 'audio', '?stem_type=kazoo')).status).toBe(422);
    const piano = await client.result(sixId, 'audio', '?stem_type=piano');
    expect(parseWav(piano.bytes).frames).toBeGreaterThan(0);
    expect((await client.result(sixId, 'audio', '?stem_type=guitar')).status).toBe(200);
    expect((await client.result(sixId, 'json')).status).toBe(404);
  });
});

describe('Klangio simulator: gen_* flags', () => {
  it('answers flags that differ from the request, as Klangio’s own example does, and serves only the flagged files (was: always the request)', async () => {
    const { client } = await start({ speed: 200, outputFlagDriftRate: 1 });
    const res = await client.create('/transcription', { model: 'guitar' }, ['midi', 'pdf', 'gp5']);
    expect(res.body).toMatchObject({ gen_xml: true, gen_midi: true, gen_midi_quant: false, gen_gp5: false, gen_pdf: true });
    const jobId = String(res.body['job_id']);
    await client.waitTerminal(jobId);
    for (const format of ['xml', 'midi', 'pdf']) expect((await client.result(jobId, format)).status, format).toBe(200);
    expect((await client.result(jobId, 'gp5')).status).toBe(404);
  });

  it('leaves a request of mxml and midi alone, and never drifts at rate 0', async () => {
    const drifting = await start({ outputFlagDriftRate: 1 });
    expect((await drifting.client.create('/transcription', { model: 'guitar' }, ['mxml', 'midi'])).body).toMatchObject({ gen_xml: true, gen_midi: true, gen_gp5: false, gen_pdf: false });
    await drifting.sim.close();
    const { client } = await start({ outputFlagDriftRate: 0 });
    expect((await client.create('/transcription', { model: 'guitar' }, ['midi', 'gp5'])).body).toMatchObject({ gen_xml: false, gen_midi: true, gen_gp5: true });
  });

  it('drifts some jobs and not others by default, the same ones for the same seed', async () => {
    const flagsOf = async (options: KlangioSimulatorOptions): Promise<boolean[]> => {
      const running = await startKlangioSimulator({ speed: 100, seed: 5, ...options });
      try {
        const client = klangioClient(running);
        const drifted: boolean[] = [];
        for (let i = 0; i < 24; i++) drifted.push((await client.create('/transcription', { model: 'guitar' }, ['midi', 'gp5'])).body['gen_gp5'] === false);
        return drifted;
      } finally {
        await running.close();
      }
    };
    const first = await flagsOf({});
    expect(first.filter(Boolean).length, 'some drifted').toBeGreaterThan(0);
    expect(first.filter((d) => !d).length, 'some did not').toBeGreaterThan(0);
    expect(await flagsOf({})).toEqual(first);
  });

  it('refuses a drift rate outside 0..1 and a negative create delay', async () => {
    await expect(startKlangioSimulator({ outputFlagDriftRate: 1.5 })).rejects.toThrow(/outputFlagDriftRate must be between 0 and 1/);
    await expect(startKlangioSimulator({ createDelayMs: -1 })).rejects.toThrow(/createDelayMs must be/);
  });

  it('answers a create only after createDelayMs, with the job already made', async () => {
    const { sim, client } = await start({ createDelayMs: 300 });
    const answer = client.create('/beat-tracking', {});
    await expect.poll(() => sim.jobIds().length).toBe(1);
    const { body } = await answer;
    expect(sim.jobIds()).toEqual([body['job_id']]);
  });
});
