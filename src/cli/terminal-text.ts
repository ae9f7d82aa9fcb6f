import sliceAnsi from 'slice-ansi';
import stringWidth from 'string-width';

/**
 * Text from the network made safe for a terminal: line breaks and tabs become spaces; other
 * control characters (ESC, BEL, C1) and bidirectional overrides become `�`, so a job name or an
 * error message can neither move the cursor, recolour the screen nor reorder a line.
 *
 * @example printable('ok\x1b[2Jboom') // 'ok�[2Jboom'
 */
export function printable(text: string): string {
  return text.replace(/[\t\n\r\v\f]+/g, ' ').replace(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu, '\ufffd');
}

/** How many terminal columns `text` takes (wide characters count 2, ANSI styles 0). */
export function columnsOf(text: string): number {
  return stringWidth(text);
}

/**
 * `text` cut to at most `columns` terminal columns, ending in `…` when it was cut. ANSI styles
 * in it are kept and closed; wide characters are never split.
 *
 * @example fitColumns('transcription', 6) // 'trans…'
 */
export function fitColumns(text: string, columns: number): string {
  if (columns <= 0) return '';
  if (stringWidth(text) <= columns) return text;
  let end = columns - 1;
  let head = sliceAnsi(text, 0, end);
  // slice-ansi keeps a wide character that straddles the cut: step back until it fits.
  while (end > 0 && stringWidth(head) > columns - 1) head = sliceAnsi(text, 0, --end);
  return `${head}…`;
}

/** `text` padded with spaces to `columns` terminal columns (or cut to them, see {@link fitColumns}). */
export function padColumns(text: string, columns: number): string {
  const fitted = fitColumns(text, columns);
  return fitted + ' '.repeat(Math.max(0, columns - stringWidth(fitted)));
}
