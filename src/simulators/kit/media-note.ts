/** A note for the generated MIDI and MusicXML files. */
export interface MediaNote {
  /** MIDI note number 0..127 (60 = middle C). */
  pitch: number;
  startSec: number;
  endSec: number;
  /** MIDI velocity 1..127 (0 is clamped to 1 so the note-on is not read as a note-off). */
  velocity: number;
}
