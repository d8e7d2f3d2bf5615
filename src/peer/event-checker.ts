/**
 * Checking the events of large `events` frames (a catch-up's) on a worker thread.
 *
 * Taking in a catch-up, the main thread spends about a third of its time checking events: zod's
 * copy of each, its canonical JSON and SHA-256 (the id), its JSON for the store, and the garbage
 * of all that. The other core meanwhile has little to do. A frame of at least `minEvents` events
 * goes to a worker as the bytes it arrived in (the main thread parsed them too, to dispatch the
 * frame); the worker answers with one verdict per event, in order: the event's JSON for the store,
 * or why it was refused. The main thread then uses its own parsed copy of each accepted event.
 *
 * The frame's bytes are moved to the worker, not copied (a copy per frame on each side left the
 * allocator holding tens of MB more after a catch-up). The worker starts with the first large
 * frame and stops when idle (`idleMs`) or when the catch-up is over (`release`): an idle peer keeps
 * no second V8 heap. If the worker cannot start or dies, a frame gets no verdicts and its events
 * are checked on the main thread, as before: nothing is lost.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkEvent, EventError, type EventRejection } from './events.js';
import type { Logger } from './log.js';

/** One event's verdict: its JSON as stored and relayed, or why it was refused. */
export type EventVerdict = string | { reason: EventRejection; message: string };

export const CHECKER_TUNING = {
  /** Frames with fewer events are checked on the main thread: the hand-off would cost a live event latency. */
  minEvents: 64,
  /** The worker stops after this long without a frame. */
  idleMs: 1000,
};

function verdictOf(raw: unknown): EventVerdict {
  try {
    return checkEvent(raw).json;
  } catch (err) {
    return err instanceof EventError ? { reason: err.reason, message: err.message } : { reason: 'malformed', message: String(err) };
  }
}

/** Verdicts for the `events` of a frame the transport accepted (so it is JSON with an `events` array). */
export function checkFrame(frame: Uint8Array): EventVerdict[] {
  const text = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8');
  return (JSON.parse(text) as { events: unknown[] }).events.map(verdictOf);
}

export interface CheckerScript {
  /** The worker's module (`event-check-worker.js` beside this one once built). */
  url: URL | string;
  /** Node options of the worker (tests run the TypeScript sources with `--import tsx`). */
  execArgv?: string[];
}

/** The built worker beside this module; none when running from sources (frames are checked here then). */
function builtScript(): CheckerScript | undefined {
  const url = new URL('./event-check-worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? { url } : undefined;
}

/** The verdicts of a frame, or none: its events are to be checked on the main thread. */
type Answer = EventVerdict[] | undefined;

export class EventChecker {
  private worker?: Worker;
  private failed = false;
  private next = 0;
  private readonly pending = new Map<number, (answer: Answer) => void>();
  private idleTimer?: NodeJS.Timeout;
  /** Frames checked on the worker, and frames left to the main thread (no worker, or it failed). */
  readonly counts = { worker: 0, here: 0 };

  private readonly script: CheckerScript | undefined;

  /** `script`: the worker's module (by default the built one beside this; `null`: none, check on this thread). */
  constructor(
    private readonly log: Logger,
    script?: CheckerScript | null,
  ) {
    this.script = script === null ? undefined : (script ?? builtScript());
  }

  /** Is a worker thread running now? */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Verdicts for the `events` of a frame, in order, or undefined when they are to be checked on the
   * main thread. Never rejects. The bytes are moved to the worker: `frame` is unusable afterwards.
   */
  check(frame: Uint8Array): Promise<Answer> {
    const worker = this.started();
    if (!worker) return Promise.resolve(this.leftHere());
    clearTimeout(this.idleTimer);
    const n = this.next++;
    this.counts.worker++;
    const owned = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer;
    const moved = owned ? frame : new Uint8Array(frame); // a view of a shared pool is copied
    return new Promise((resolve) => {
      this.pending.set(n, resolve);
      try {
        worker.postMessage({ n, frame: moved }, [moved.buffer as ArrayBuffer]);
      } catch (err) {
        // bytes that cannot be moved (never seen): this frame is checked on the main thread
        this.pending.delete(n);
        this.log.warn({ err: (err as Error).message }, 'could not hand a frame to the event checking worker');
        resolve(this.leftHere());
      }
    });
  }

  /**
   * A catch-up is coming (a neighbour holds many events we lack): start the worker now, so that
   * loading its modules (a quarter of a second on a busy core) overlaps the first frames' way here
   * instead of delaying them. Unused, it stops after `idleMs` like an idle one.
   */
  warm(): void {
    if (this.worker) return;
    if (!this.started()) return;
    this.idleTimer = setTimeout(() => this.release(), CHECKER_TUNING.idleMs).unref();
  }

  /** The catch-up is over: the worker stops once it has answered (it starts again with the next large frame). */
  release(): void {
    if (this.worker && !this.pending.size) this.stop();
  }

  close(): void {
    this.stop();
  }

  private leftHere(): undefined {
    this.counts.here++;
    return undefined;
  }

  private started(): Worker | undefined {
    if (this.worker || this.failed || !this.script) return this.worker;
    try {
      const worker = new Worker(this.script.url, { execArgv: this.script.execArgv });
      worker.unref();
      worker.on('message', (answer: { n: number; verdicts: EventVerdict[] }) => this.answered(answer));
      worker.on('error', (err) => this.fail(worker, err));
      worker.on('exit', (code) => this.fail(worker, new Error(`exited with code ${code}`)));
      this.worker = worker;
    } catch (err) {
      this.fail(undefined, err as Error);
    }
    return this.worker;
  }

  private answered({ n, verdicts }: { n: number; verdicts: EventVerdict[] }): void {
    const resolve = this.pending.get(n);
    if (!resolve) return;
    this.pending.delete(n);
    resolve(verdicts);
    if (!this.pending.size) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.release(), CHECKER_TUNING.idleMs).unref();
    }
  }

  /** The worker could not start or died: what it held is checked on the main thread, and so is everything after. */
  private fail(worker: Worker | undefined, err: Error): void {
    if (worker !== this.worker) return; // a worker we stopped
    this.failed = true;
    this.log.warn({ err: err.message }, 'event checking worker failed; checking events on the main thread');
    this.stop();
  }

  private stop(): void {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    for (const resolve of this.pending.values()) resolve(this.leftHere());
    this.pending.clear();
    void worker?.terminate();
  }
}

/**
 * Does the worker start and answer from `script` in this runtime? (The desktop app's smoke test
 * asks, under Electron: the packaged app loads it from its own bundle.)
 */
export async function workerAnswers(log: Logger, script: CheckerScript): Promise<boolean> {
  const checker = new EventChecker(log, script);
  try {
    const verdict = (await checker.check(Buffer.from('{"t":"events","events":[{}]}')))?.[0];
    return typeof verdict === 'object' && verdict.reason === 'malformed';
  } finally {
    checker.close();
  }
}
