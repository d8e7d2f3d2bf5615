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
 * So the peer runs one as soon as a catch-up of at least `minEvents` events has brought it level
 * with its neighbours, and once it has delivered nothing for `quietMs` after a start-up or after
 * at least `minEvents` events of live traffic (a few live messages do not pay for a collection).
 * Never in the middle of a catch-up: one every 20,000 events made a catch-up of 100,000 events
 * 8 % slower (measured), and V8 collects the garbage of a burst anyway.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.js';

export const RECLAIM_TUNING = { minEvents: 2_000, quietMs: 1_000 };

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

export class MemoryReclaimer {
  /** Events delivered since the last collection. */
  private events = 0;
  private lastWork = 0;
  private quietTimer?: NodeJS.Timeout;
  /** Collections run so far and their total time. */
  readonly counts = { collections: 0, ms: 0 };

  constructor(
    private readonly log: Logger,
    private readonly tuning = RECLAIM_TUNING,
  ) {}

  /** An event was delivered. */
  delivered(): void {
    this.events++;
    this.lastWork = Date.now();
    if (this.events >= this.tuning.minEvents) this.whenQuiet();
  }

  /** A catch-up brought the peer level with its neighbours: what it allocated goes back now. */
  caughtUp(): void {
    if (this.events >= this.tuning.minEvents) this.reclaim();
  }

  /** A start-up ended: what loading the history allocated goes back once things are quiet. */
  started(): void {
    this.lastWork = Date.now();
    this.whenQuiet();
  }

  /** Collects once nothing was delivered for `quietMs` (one timer, pushed back by work meanwhile). */
  private whenQuiet(): void {
    if (this.quietTimer) return;
    const check = () => {
      const idle = Date.now() - this.lastWork;
      if (idle < this.tuning.quietMs) {
        this.quietTimer = setTimeout(check, this.tuning.quietMs - idle).unref();
        return;
      }
      this.quietTimer = undefined;
      this.reclaim();
    };
    this.quietTimer = setTimeout(check, this.tuning.quietMs).unref();
  }

  private reclaim(): void {
    this.events = 0;
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    const gc = collector();
    if (!gc) return;
    const start = performance.now();
    const before = process.memoryUsage.rss();
    gc({ type: 'major', flavor: 'last-resort' });
    const ms = performance.now() - start;
    this.counts.collections++;
    this.counts.ms += ms;
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    this.log.debug({ ms: Math.round(ms), rssBeforeMb: mb(before), rssAfterMb: mb(process.memoryUsage.rss()) }, 'memory given back');
  }

  close(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }
}
