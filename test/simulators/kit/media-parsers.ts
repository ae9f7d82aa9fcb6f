/** Small independent readers of the generated media, for tests. */

export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataBytes: number;
  frames: number;
  peak: number;
}

/** Parses a RIFF/WAVE buffer chunk by chunk; throws on any inconsistency. */
export function parseWav(buf: Buffer): WavInfo {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not RIFF/WAVE');
  if (buf.readUInt32LE(4) !== buf.length - 8) throw new Error('RIFF size mismatch');
  let at = 12;
  let fmt: Omit<WavInfo, 'dataBytes' | 'frames' | 'peak'> | undefined;
  while (at + 8 <= buf.length) {
    const id = buf.toString('ascii', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(at + 8),
        channels: buf.readUInt16LE(at + 10),
        sampleRate: buf.readUInt32LE(at + 12),
        bitsPerSample: buf.readUInt16LE(at + 22),
      };
      if (buf.readUInt32LE(at + 16) !== fmt.sampleRate * fmt.channels * (fmt.bitsPerSample / 8)) throw new Error('byte rate');
    }
    if (id === 'data') {
      if (fmt === undefined) throw new Error('data before fmt');
      if (at + 8 + size !== buf.length) throw new Error('data size mismatch');
      let peak = 0;
      for (let i = at + 8; i + 1 < at + 8 + size; i += 2) peak = Math.max(peak, Math.abs(buf.readInt16LE(i)));
      return { ...fmt, dataBytes: size, frames: size / (fmt.channels * 2), peak };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

export interface MidiNoteEvent {
  on: boolean;
  channel: number;
  pitch: number;
  velocity: number;
  tick: number;
}

export interface MidiInfo {
  format: number;
  tracks: number;
  division: number;
  events: MidiNoteEvent[];
  tempo?: number;
  program?: number;
  endOfTrack: boolean;
}

/** Parses a Standard MIDI File (any format, running status supported); throws on malformed data. */
export function parseMidi(buf: Buffer): MidiInfo {
  if (buf.toString('ascii', 0, 4) !== 'MThd' || buf.readUInt32BE(4) !== 6) throw new Error('bad header');
  const info: MidiInfo = { format: buf.readUInt16BE(8), tracks: buf.readUInt16BE(10), division: buf.readUInt16BE(12), events: [], endOfTrack: false };
  let at = 14;
  for (let t = 0; t < info.tracks; t++) {
    if (buf.toString('ascii', at, at + 4) !== 'MTrk') throw new Error('bad track header');
    const end = at + 8 + buf.readUInt32BE(at + 4);
    if (end > buf.length) throw new Error('track overruns file');
    let p = at + 8;
    let tick = 0;
    let status = 0;
    const readVlq = (): number => {
      let v = 0;
      for (let i = 0; i < 4; i++) {
        const b = buf[p++]!;
        v = (v << 7) | (b & 0x7f);
        if ((b & 0x80) === 0) return v;
      }
      throw new Error('vlq too long');
    };
    while (p < end) {
      tick += readVlq();
      if (buf[p]! & 0x80) status = buf[p++]!;
      if (status === 0xff) {
        const type = buf[p++]!;
        const len = readVlq();
        if (type === 0x51) info.tempo = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
        if (type === 0x2f) {
          info.endOfTrack = true;
          if (p + len !== end) throw new Error('data after end of track');
        }
        p += len;
      } else if ((status & 0xf0) === 0xc0) {
        info.program = buf[p++]!;
      } else if ((status & 0xf0) === 0x90 || (status & 0xf0) === 0x80) {
        const pitch = buf[p++]!;
        const velocity = buf[p++]!;
        info.events.push({ on: (status & 0xf0) === 0x90 && velocity > 0, channel: status & 0x0f, pitch, velocity, tick });
      } else {
        throw new Error(`unexpected status ${status.toString(16)}`);
      }
    }
    at = end;
  }
  return info;
}

/** Checks a PDF: header, every xref offset pointing at its `N 0 obj`, and startxref pointing at `xref`. */
export function checkPdf(buf: Buffer): { objects: number; text: string } {
  const text = buf.toString('latin1');
  if (!text.startsWith('%PDF-1.')) throw new Error('no PDF header');
  if (!text.trimEnd().endsWith('%%EOF')) throw new Error('no %%EOF');
  const startxref = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(text);
  if (startxref === null) throw new Error('no startxref');
  const xrefAt = Number(startxref[1]);
  if (!text.startsWith('xref', xrefAt)) throw new Error('startxref does not point at xref');
  const header = /^xref\n0 (\d+)\n/.exec(text.slice(xrefAt));
  if (header === null) throw new Error('bad xref header');
  const count = Number(header[1]);
  const entriesAt = xrefAt + header[0].length;
  for (let i = 0; i < count; i++) {
    const entry = text.slice(entriesAt + i * 20, entriesAt + (i + 1) * 20);
    if (!/^\d{10} \d{5} [fn] \n$/.test(entry)) throw new Error(`bad xref entry ${i}: ${JSON.stringify(entry)}`);
    if (entry[17] === 'n') {
      const offset = Number(entry.slice(0, 10));
      if (!text.startsWith(`${i} 0 obj`, offset)) throw new Error(`xref entry ${i} points at the wrong place`);
    }
  }
  return { objects: count - 1, text };
}
