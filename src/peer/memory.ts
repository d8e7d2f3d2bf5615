/**
 * Giving memory back to the system after a burst of work: a catch-up, a start-up, a busy spell.
 *
 * Taking in 100,000 events allocates gigabytes of short-lived objects. V8 grows its heap for such
 * a burst and keeps the pages once the garbage is collected, and its own memory reducer did not
 * give them back while the peer sat idle afterwards (measured: 325 MB resident 10 s after a
 * catch-up, 42 MB of it live). A memory-reducing collection (V8's "last resort" flavour: collect
 * and compact until nothing more is freed, then return the empty pages) brings the heap back to
 * what is live, in 30–110 ms.
 *
 * The peer runs one when V8's heap has grown by `growthMb` since the last one and either a
 * catch-up of at least `catchUpEvents` events has just brought it level with its neighbours, or
 * nothing was delivered for `quietMs` (after a start-up, a busy spell, a long scroll through
 * history). A catch-up's collection is followed by one more once quiet, for what was still in use
 * then. Never in the middle of a catch-up: one every 20,000 events made a catch-up of
 * 100,000 events 8 % slower (measured), and V8 collects the garbage of a burst anyway.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.js';

export const RECLAIM_TUNING = { growthMb: 24, catchUpEvents: 2_000, quietMs: 1_000 };

type Collect = (options: { type: 'major'; flavor: 'last-resort' }) => void;

let collect: Collect | null | undefined;

/**
 * V8's collector as `--expose-gc` exposes it. The flag is on only while one new context is made,
 * so the peer's own global never gets a `gc`.
 */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as Collect;
  } catch {
    collect = null; // a runtime without it: memory is left to V8's own heuristics
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

/** What V8's heap holds from the system now, in MB. */
function heapMb(): number {
  return getHeapStatistics().total_heap_size / 2 ** 20;
}

export class MemoryReclaimer {
  /** The heap's size right after the last collection (0 before the first: a start-up counts as a burst). */
  private baseline = 0;
  private lastWork = Date.now();
  /**
   * A catch-up was just collected while its last notifications were still on their way out (the
   * API's output buffers, tens of MB): once quiet, those go too, however little the heap grew.
   */
  private leftovers = false;
  private readonly timer: NodeJS.Timeout;
  /** Collections run so far and their total time. */
  readonly counts = { collections: 0, ms: 0 };

  constructor(
    private readonly log: Logger,
    private readonly tuning = RECLAIM_TUNING,
  ) {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastWork >= this.tuning.quietMs && (this.leftovers || this.grown())) this.reclaim();
    }, this.tuning.quietMs).unref();
  }

  /** An event was delivered: the peer is busy. */
  delivered(): void {
    this.lastWork = Date.now();
  }

  /** A catch-up of `events` events brought the peer level with its neighbours: what it allocated goes back now. */
  caughtUp(events: number): void {
    if (events < this.tuning.catchUpEvents || !this.grown()) return;
    this.reclaim();
    this.leftovers = true;
  }

  private grown(): boolean {
    return heapMb() - this.baseline >= this.tuning.growthMb;
  }

  private reclaim(): void {
    this.leftovers = false;
    const gc = collector();
    if (!gc) return;
    const start = performance.now();
    const before = process.memoryUsage.rss();
    gc({ type: 'major', flavor: 'last-resort' });
    const ms = performance.now() - start;
    this.baseline = heapMb();
    this.counts.collections++;
    this.counts.ms += ms;
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    this.log.debug({ ms: Math.round(ms), rssBeforeMb: mb(before), rssAfterMb: mb(process.memoryUsage.rss()) }, 'memory given back');
  }

  close(): void {
    clearInterval(this.timer);
  }
}
