/** One line of the results table. */
export interface Row {
  /** `B1` … `B7`. */
  id: string;
  measure: string;
  /** The engine's figure, formatted with its unit. */
  engine: string;
  /** The baseline's figure, formatted with its unit. */
  baseline: string;
  /** engine ÷ baseline (medians of the interleaved rounds). */
  ratio: number | undefined;
  target: string;
  /** Whether the target is met; undefined for figures without a target. */
  met: boolean | undefined;
  /** Everything else worth writing down (per-round figures, settings); goes to `--out`. */
  details?: Record<string, unknown>;
}

/** Prints the one results table, as Markdown so it can be pasted into docs/benchmarks.md. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['#', 'measure', 'engine', 'baseline', 'ratio', 'target', 'result'];
  const lines = rows.map((row) => [
    row.id,
    row.measure,
    row.engine,
    row.baseline,
    row.ratio === undefined || !Number.isFinite(row.ratio) ? '—' : `${row.ratio >= 0.01 ? row.ratio.toFixed(2) : row.ratio.toPrecision(2)}x`,
    row.target,
    row.met === undefined ? '—' : row.met ? 'met' : 'MISSED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}

/** 12345.6 → "12,346"; small numbers keep a few significant digits. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return value > 0 ? '∞' : String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}
