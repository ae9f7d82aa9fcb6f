import type { Row } from './table.js';

/** What every benchmark is given. */
export interface BenchOptions {
  /** Smaller sizes and shorter runs (still at least five interleaved rounds). */
  quick: boolean;
  /** Interleaved rounds per comparison (at least five). */
  rounds: number;
  /** Progress lines (to stderr). */
  log: (line: string) => void;
}

/** A benchmark: runs its loads and returns its table rows. */
export type Benchmark = (options: BenchOptions) => Promise<Row[]>;
