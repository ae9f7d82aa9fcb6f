import type { MediaNote } from './media-note.js';

const STEPS = ['C', 'C', 'D', 'D', 'E', 'F', 'F', 'G', 'G', 'A', 'A', 'B'] as const;
const ALTERS = [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0] as const;
/** Eighth-note counts that are one written note, with their MusicXML type and dot. */
const WRITTEN: readonly [number, string, boolean][] = [
  [8, 'whole', false],
  [6, 'half', true],
  [4, 'half', false],
  [3, 'quarter', true],
  [2, 'quarter', false],
  [1, 'eighth', false],
];
const EIGHTHS_PER_MEASURE = 8;

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Splits a length in eighths into writable note values, longest first. */
function split(eighths: number): [number, string, boolean][] {
  const parts: [number, string, boolean][] = [];
  let left = eighths;
  while (left > 0) {
    const part = WRITTEN.find(([n]) => n <= left) ?? WRITTEN[WRITTEN.length - 1]!;
    parts.push(part);
    left -= part[0];
  }
  return parts;
}

interface Slot {
  start: number;
  length: number;
  pitch: number | null;
}

/** Quantises notes to eighths, keeps one voice (a later note cuts an earlier one) and fills gaps with rests. */
function slots(notes: readonly MediaNote[], eighthSec: number): { slots: Slot[]; measures: number } {
  const sorted = notes
    .map((n) => ({
      pitch: Math.min(127, Math.max(0, Math.round(n.pitch))),
      start: Math.max(0, Math.round(n.startSec / eighthSec)),
      end: Math.max(0, Math.round(n.endSec / eighthSec)),
    }))
    .map((n) => ({ ...n, end: Math.max(n.end, n.start + 1) }))
    .sort((a, b) => a.start - b.start);
  const voice: Slot[] = [];
  let cursor = 0;
  for (const [i, n] of sorted.entries()) {
    if (n.start < cursor) continue;
    const next = sorted.slice(i + 1).find((m) => m.start > n.start);
    const end = next === undefined ? n.end : Math.min(n.end, next.start);
    if (n.start > cursor) voice.push({ start: cursor, length: n.start - cursor, pitch: null });
    voice.push({ start: n.start, length: end - n.start, pitch: n.pitch });
    cursor = end;
  }
  const measures = Math.max(1, Math.ceil(cursor / EIGHTHS_PER_MEASURE));
  const total = measures * EIGHTHS_PER_MEASURE;
  if (cursor < total) voice.push({ start: cursor, length: total - cursor, pitch: null });
  return { slots: voice, measures };
}

/**
 * A valid MusicXML 4.0 `score-partwise` document with one part in 4/4: the notes are
 * quantised to eighth notes at `bpm`, reduced to one voice, notes crossing a barline are
 * tied, and gaps become rests.
 *
 * @example
 * const xml = musicXml([{ pitch: 64, startSec: 0, endSec: 0.5, velocity: 80 }], 'Demo');
 * xml.includes('<score-partwise'); // true
 */
export function musicXml(notes: readonly MediaNote[], title = 'Untitled', bpm = 120): string {
  const eighthSec = 30 / bpm;
  const { slots: voice, measures } = slots(notes, eighthSec);
  const body: string[][] = Array.from({ length: measures }, () => []);
  for (const slot of voice) {
    let at = slot.start;
    let left = slot.length;
    while (left > 0) {
      const measure = Math.floor(at / EIGHTHS_PER_MEASURE);
      const room = (measure + 1) * EIGHTHS_PER_MEASURE - at;
      const chunk = Math.min(room, left);
      const pieces = split(chunk);
      for (const [j, [length, type, dotted]] of pieces.entries()) {
        const tieStart = slot.pitch !== null && (left - chunk > 0 || j < pieces.length - 1);
        const tieStop = slot.pitch !== null && at > slot.start;
        body[measure]?.push(noteXml(slot.pitch, length, type, dotted, tieStart, tieStop));
        at += length;
      }
      left -= chunk;
    }
  }
  const measureXml = body.map((notesXml, i) => {
    const attributes =
      i === 0
        ? '      <attributes><divisions>2</divisions><key><fifths>0</fifths></key>' +
          '<time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>\n' +
          `      <direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>${bpm}</per-minute></metronome></direction-type><sound tempo="${bpm}"/></direction>\n`
        : '';
    return `    <measure number="${i + 1}">\n${attributes}${notesXml.join('')}    </measure>\n`;
  });
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' +
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">\n' +
    '<score-partwise version="4.0">\n' +
    `  <work><work-title>${escapeXml(title)}</work-title></work>\n` +
    '  <part-list><score-part id="P1"><part-name>Music</part-name></score-part></part-list>\n' +
    '  <part id="P1">\n' +
    measureXml.join('') +
    '  </part>\n' +
    '</score-partwise>\n'
  );
}

function noteXml(pitch: number | null, length: number, type: string, dotted: boolean, tieStart: boolean, tieStop: boolean): string {
  const dot = dotted ? '<dot/>' : '';
  if (pitch === null) return `      <note><rest/><duration>${length}</duration><type>${type}</type>${dot}</note>\n`;
  const pc = pitch % 12;
  const alter = ALTERS[pc] === 1 ? '<alter>1</alter>' : '';
  const octave = Math.floor(pitch / 12) - 1;
  const ties = (tieStop ? '<tie type="stop"/>' : '') + (tieStart ? '<tie type="start"/>' : '');
  const tied = (tieStop ? '<tied type="stop"/>' : '') + (tieStart ? '<tied type="start"/>' : '');
  const notations = tied === '' ? '' : `<notations>${tied}</notations>`;
  return (
    `      <note><pitch><step>${STEPS[pc]}</step>${alter}<octave>${octave}</octave></pitch>` +
    `<duration>${length}</duration>${ties}<type>${type}</type>${dot}${notations}</note>\n`
  );
}
