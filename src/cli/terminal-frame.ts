import { fitColumns } from './terminal-text.js';

/** A terminal's size in character cells. */
export interface TerminalSize {
  rows: number;
  columns: number;
}

/** Options of {@link fitFrame}. */
export interface FitFrameOptions {
  /** How many lines at the top (a title, a table header) stay whatever the height. */
  keep: number;
  /** The last line when some lines do not fit, given how many were left out. */
  more: (hidden: number) => string;
}

/**
 * Fits a frame to a terminal so that redrawing it in place is exact: every line is cut one
 * column short of the width (nothing wraps, and the cursor never sits in the last column,
 * where erasing to the end of the line would take the last character with it), and there
 * are at most `rows - 1` lines (the cursor rests on the line below the frame, so the screen
 * never scrolls). When lines must go, the first `keep` stay, then as many as fit, and the
 * last line says how many were left out.
 *
 * @example
 * fitFrame(['title', 'ID  NAME', ...rows], { rows: 24, columns: 80 }, { keep: 2, more: (n) => `…and ${n} more` });
 */
export function fitFrame(lines: readonly string[], size: TerminalSize, options: FitFrameOptions): string[] {
  const width = Math.max(1, size.columns - 1);
  const height = Math.max(1, size.rows - 1);
  const cut = (line: string) => fitColumns(line, width);
  if (lines.length <= height) return lines.map(cut);
  const head = lines.slice(0, Math.min(options.keep, height));
  const room = height - head.length;
  if (room === 0) return head.map(cut);
  const body = lines.slice(head.length, head.length + room - 1);
  return [...head, ...body, options.more(lines.length - head.length - body.length)].map(cut);
}
