import type { MediaNote } from './media-note.js';

export type { MediaNote } from './media-note.js';
export { musicXml } from './music-xml.js';
export { minimalPdf } from './minimal-pdf.js';

/** Options of {@link wavFile}. */
export interface WavOptions {
  seconds: number;
  /** @default 44100 */
  sampleRate?: number;
  /** @default 2 */
  channels?: number;
  /** Frequency of the sine tone; 0 gives silence. @default 440 */
  frequencyHz?: number;
}

/**
 * A 16-bit PCM RIFF/WAVE file holding a quiet sine tone with short fades.
 *
 * @example
 * const wav = wavFile({ seconds: 0.5, frequencyHz: 220 });
 * wav.subarray(0, 4).toString('ascii'); // 'RIFF'
 */
export function wavFile(opts: WavOptions): Buffer {
  const sampleRate = opts.sampleRate ?? 44100;
  const channels = opts.channels ?? 2;
  const frequency = opts.frequencyHz ?? 440;
  const frames = Math.max(0, Math.round(opts.seconds * sampleRate));
  const blockAlign = channels * 2;
  const dataBytes = frames * blockAlign;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * blockAlign, 28);
  buf.writeUInt16LE(blockAlign, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  const fade = Math.max(1, Math.round(sampleRate * 0.01));
  for (let i = 0; i < frames; i++) {
    const envelope = Math.min(1, i / fade, (frames - 1 - i) / fade);
    const sample = Math.round(0.3 * 32767 * envelope * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
    for (let ch = 0; ch < channels; ch++) buf.writeInt16LE(sample, 44 + i * blockAlign + ch * 2);
  }
  return buf;
}

/** Options of {@link midiFile}. */
export interface MidiOptions {
  /** Ticks per quarter note (header division). @default 480 */
  ticksPerQuarter?: number;
  /** Tempo written as a set-tempo meta event. @default 120 */
  bpm?: number;
  /** MIDI channel 0..15 (9 = GM drums). @default 0 */
  channel?: number;
  /** GM program number 0..127, written as a program change when given. */
  program?: number;
  /** Track name meta event. */
  trackName?: string;
}

/** Encodes a MIDI variable-length quantity. */
function vlq(value: number): number[] {
  let v = Math.max(0, Math.floor(value));
  const bytes = [v & 0x7f];
  v >>>= 7;
  while (v > 0) {
    bytes.unshift((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  return bytes;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.round(v)));

/**
 * A Standard MIDI File, format 0: `MThd` header, one `MTrk` chunk with tempo, optional
 * name and program change, the notes as note-on/note-off pairs with variable-length delta
 * times, and end-of-track.
 *
 * @example
 * const mid = midiFile([{ pitch: 60, startSec: 0, endSec: 0.5, velocity: 90 }]);
 * mid.subarray(0, 4).toString('ascii'); // 'MThd'
 */
export function midiFile(notes: readonly MediaNote[], opts: MidiOptions = {}): Buffer {
  const tpq = opts.ticksPerQuarter ?? 480;
  const bpm = opts.bpm ?? 120;
  const channel = clamp(opts.channel ?? 0, 0, 15);
  const ticksPerSec = (tpq * bpm) / 60;
  const microsPerQuarter = Math.round(60_000_000 / bpm);
  const events: { tick: number; order: number; bytes: number[] }[] = [];
  for (const n of notes) {
    const on = Math.max(0, Math.round(n.startSec * ticksPerSec));
    const off = Math.max(on + 1, Math.round(n.endSec * ticksPerSec));
    const pitch = clamp(n.pitch, 0, 127);
    events.push({ tick: on, order: 1, bytes: [0x90 | channel, pitch, clamp(n.velocity, 1, 127)] });
    events.push({ tick: off, order: 0, bytes: [0x80 | channel, pitch, 0] });
  }
  // Note-offs sort before note-ons at the same tick so repeated pitches re-trigger.
  events.sort((a, b) => a.tick - b.tick || a.order - b.order);
  const track: number[] = [];
  track.push(0, 0xff, 0x51, 0x03, (microsPerQuarter >> 16) & 0xff, (microsPerQuarter >> 8) & 0xff, microsPerQuarter & 0xff);
  track.push(0, 0xff, 0x58, 0x04, 4, 2, 24, 8);
  if (opts.trackName !== undefined) {
    const name = [...Buffer.from(opts.trackName, 'latin1')];
    track.push(0, 0xff, 0x03, ...vlq(name.length), ...name);
  }
  if (opts.program !== undefined) track.push(0, 0xc0 | channel, clamp(opts.program, 0, 127));
  let last = 0;
  for (const e of events) {
    track.push(...vlq(e.tick - last), ...e.bytes);
    last = e.tick;
  }
  track.push(0, 0xff, 0x2f, 0x00);
  const header = Buffer.alloc(14);
  header.write('MThd', 0, 'ascii');
  header.writeUInt32BE(6, 4);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(1, 10);
  header.writeUInt16BE(tpq, 12);
  const trackHeader = Buffer.alloc(8);
  trackHeader.write('MTrk', 0, 'ascii');
  trackHeader.writeUInt32BE(track.length, 4);
  return Buffer.concat([header, trackHeader, Buffer.from(track)]);
}
