/** What every scenario gets from the runner. */
import type { Report } from './report.js';
import type { TempDirs } from './util.js';

export interface BenchContext {
  report: Report;
  tmp: TempDirs;
  /** BENCH_REPEAT: independent repetitions of each measurement (fresh processes each time). */
  repeat: number;
  /** BENCH_SECONDS: length of each throughput phase. */
  seconds: number;
  /** BENCH_CATCHUP: messages sent while a peer is offline. */
  catchup: number;
  /** Scenarios selected by BENCH_ONLY (all when unset). */
  only: ReadonlySet<string>;
  log(text: string): void;
}
