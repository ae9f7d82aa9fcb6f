import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { midiFile, minimalPdf, musicXml, wavFile } from '../../../src/simulators/kit/media.js';
import { checkPdf, parseMidi, parseWav } from './media-parsers.js';

describe('wavFile', () => {
  it('writes a 16-bit PCM RIFF file with the requested layout and an audible tone', () => {
    const info = parseWav(wavFile({ seconds: 0.25, sampleRate: 22050, channels: 1, frequencyHz: 330 }));
    expect(info).toMatchObject({ format: 1, channels: 1, sampleRate: 22050, bitsPerSample: 16 });
    expect(info.frames).toBe(Math.round(0.25 * 22050));
    expect(info.peak).toBeGreaterThan(1000);
  });

  it('defaults to stereo 44.1 kHz and makes silence at 0 Hz', () => {
    const info = parseWav(wavFile({ seconds: 0.1, frequencyHz: 0 }));
    expect(info).toMatchObject({ channels: 2, sampleRate: 44100 });
    expect(info.peak).toBe(0);
  });
});

describe('midiFile', () => {
  it('writes format 0 with one track, tempo, program and balanced note on/off pairs', () => {
    const notes = [
      { pitch: 60, startSec: 0, endSec: 0.5, velocity: 100 },
      { pitch: 64, startSec: 0.5, endSec: 1, velocity: 80 },
      { pitch: 67, startSec: 0.25, endSec: 3, velocity: 0 },
    ];
    const info = parseMidi(midiFile(notes, { program: 25, bpm: 100, ticksPerQuarter: 96, channel: 2 }));
    expect(info).toMatchObject({ format: 0, tracks: 1, division: 96, tempo: 600000, program: 25, endOfTrack: true });
    expect(info.events.filter((e) => e.on).map((e) => e.pitch).sort()).toEqual([60, 64, 67]);
    expect(info.events.filter((e) => !e.on)).toHaveLength(3);
    expect(info.events.every((e) => e.channel === 2)).toBe(true);
    const ticksPerSec = (96 * 100) / 60;
    const on67 = info.events.find((e) => e.on && e.pitch === 67)!;
    expect(on67.tick).toBe(Math.round(0.25 * ticksPerSec));
    expect(on67.velocity).toBe(1);
  });

  it('stays parseable for any notes, with long delta times', () => {
    const note = fc.record({
      pitch: fc.integer({ min: 0, max: 127 }),
      startSec: fc.double({ min: 0, max: 600, noNaN: true }),
      len: fc.double({ min: 0, max: 30, noNaN: true }),
      velocity: fc.integer({ min: 0, max: 127 }),
    });
    fc.assert(
      fc.property(fc.array(note, { maxLength: 40 }), (ns) => {
        const info = parseMidi(midiFile(ns.map((n) => ({ ...n, endSec: n.startSec + n.len }))));
        expect(info.events.filter((e) => e.on)).toHaveLength(ns.length);
        expect(info.endOfTrack).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('musicXml', () => {
  const measureDurations = (xml: string): number[] =>
    [...xml.matchAll(/<measure number="\d+">([\s\S]*?)<\/measure>/g)].map((m) =>
      [...m[1]!.matchAll(/<duration>(\d+)<\/duration>/g)].reduce((s, d) => s + Number(d[1]), 0),
    );

  it('writes a score-partwise document whose measures are full 4/4 bars', () => {
    const xml = musicXml(
      [
        { pitch: 61, startSec: 0.25, endSec: 1.5, velocity: 90 },
        { pitch: 48, startSec: 1.75, endSec: 2.5, velocity: 90 },
      ],
      'A & B <demo>',
    );
    expect(xml).toMatch(/^<\?xml version="1.0"/);
    expect(xml).toContain('<score-partwise version="4.0">');
    expect(xml.trimEnd().endsWith('</score-partwise>')).toBe(true);
    expect(xml).toContain('<work-title>A &amp; B &lt;demo&gt;</work-title>');
    expect(xml).toContain('<step>C</step><alter>1</alter><octave>4</octave>');
    expect(xml).toContain('<tie type="start"/>');
    expect(measureDurations(xml)).toEqual([8, 8]);
  });

  it('fills measures exactly for arbitrary notes', () => {
    const note = fc.record({
      pitch: fc.integer({ min: 0, max: 127 }),
      startSec: fc.double({ min: 0, max: 20, noNaN: true }),
      len: fc.double({ min: 0, max: 5, noNaN: true }),
    });
    fc.assert(
      fc.property(fc.array(note, { maxLength: 30 }), (ns) => {
        const xml = musicXml(ns.map((n) => ({ pitch: n.pitch, startSec: n.startSec, endSec: n.startSec + n.len, velocity: 64 })));
        expect(measureDurations(xml).every((d) => d === 8)).toBe(true);
        expect(xml.split('<tie type="start"/>').length).toBe(xml.split('<tie type="stop"/>').length);
      }),
      { numRuns: 50 },
    );
  });
});

describe('minimalPdf', () => {
  it('writes a PDF whose xref offsets point at its objects', () => {
    const { objects, text } = checkPdf(minimalPdf(['Sheet (demo)', 'back\\slash', 'Ünïcødé ✓']));
    expect(objects).toBe(5);
    expect(text).toContain('(Sheet \\(demo\\)) Tj');
    expect(text).toContain('/Type /Catalog');
  });
});
